"""Accounts and sessions (called by auth-api only)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from unifyops.identity.auth.auth_service import accounts
from unifyops.identity.auth.auth_service.api.deps import IssuerDep, SettingsDep
from unifyops.identity.auth.auth_service.schemas import (
    AccountPublic,
    LoginRequest,
    RefreshRequest,
    Registration,
    TokenPair,
)
from unifyops_core.stack import SessionDep

router = APIRouter(prefix="/internal", tags=["accounts"])


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
async def register(body: Registration, session: SessionDep) -> AccountPublic:
    user = await accounts.register(session, body.email, body.password)
    return AccountPublic(id=str(user.id), email=user.email)


@router.post("/sessions")
async def login(
    body: LoginRequest, session: SessionDep, settings: SettingsDep, issuer: IssuerDep
) -> TokenPair:
    return await accounts.login(
        session, settings, issuer, body.email, body.password, body.client_ip
    )


@router.post("/sessions/refresh")
async def refresh(
    body: RefreshRequest, session: SessionDep, settings: SettingsDep, issuer: IssuerDep
) -> TokenPair:
    return await accounts.refresh(session, settings, issuer, body.refresh_token)


@router.post("/sessions/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, session: SessionDep) -> Response:
    await accounts.logout(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
