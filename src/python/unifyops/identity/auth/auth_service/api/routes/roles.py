"""Role management (internal: service-token protected like every /internal route; auth-api
relays it to admins, `auth-service roles` does the same from a shell in the container)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import EmailStr

from unifyops.identity.auth.auth_service import roles
from unifyops.identity.auth.auth_service.schemas import (
    ROLE_SCOPES,
    AccountRoles,
    RoleChange,
    RoleDefinition,
)
from unifyops_core.stack import SessionDep

router = APIRouter(prefix="/internal/roles", tags=["roles"])


@router.get("")
async def definitions() -> list[RoleDefinition]:
    return [RoleDefinition(name=name, scopes=list(scopes)) for name, scopes in ROLE_SCOPES.items()]


@router.get("/accounts")
async def account(email: Annotated[EmailStr, Query()], session: SessionDep) -> AccountRoles:
    return await roles.account_roles(session, email)


@router.post("/grant")
async def grant(body: RoleChange, session: SessionDep) -> AccountRoles:
    return await roles.grant(session, body.email, body.role)


@router.post("/revoke")
async def revoke(body: RoleChange, session: SessionDep) -> AccountRoles:
    return await roles.revoke(session, body.email, body.role)
