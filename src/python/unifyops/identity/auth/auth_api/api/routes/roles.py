"""Role management for admins, relayed to auth-service: reading roles needs ``roles:read``,
changing them ``roles:write`` (both come with the admin role). A change reaches the account's
access token at its next login or refresh."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import EmailStr

from unifyops.identity.auth.auth_service.schemas import AccountRoles, RoleChange, RoleDefinition
from unifyops_core.security import require_scopes
from unifyops_core.stack import ServiceDep
from unifyops_core.tokens import Principal

router = APIRouter(prefix="/v1/auth/roles", tags=["roles"])
RoleReader = Annotated[Principal, Depends(require_scopes("roles:read"))]
RoleWriter = Annotated[Principal, Depends(require_scopes("roles:write"))]


@router.get("")
async def definitions(_: RoleReader, service: ServiceDep) -> list[RoleDefinition]:
    upstream = await service.get("/internal/roles")
    return [RoleDefinition.model_validate(item) for item in upstream.json()]


@router.get("/accounts")
async def account(
    email: Annotated[EmailStr, Query()], _: RoleReader, service: ServiceDep
) -> AccountRoles:
    upstream = await service.get("/internal/roles/accounts", params={"email": email})
    return AccountRoles.model_validate(upstream.json())


@router.post("/grant")
async def grant(body: RoleChange, _: RoleWriter, service: ServiceDep) -> AccountRoles:
    upstream = await service.post("/internal/roles/grant", json=body.model_dump())
    return AccountRoles.model_validate(upstream.json())


@router.post("/revoke")
async def revoke(body: RoleChange, _: RoleWriter, service: ServiceDep) -> AccountRoles:
    upstream = await service.post("/internal/roles/revoke", json=body.model_dump())
    return AccountRoles.model_validate(upstream.json())
