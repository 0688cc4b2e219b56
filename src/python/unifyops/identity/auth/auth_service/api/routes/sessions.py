"""Accounts and sessions (called by auth-api only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from unifyops.identity.auth.auth_service import accounts
from unifyops.identity.auth.auth_service.api.deps import IssuerDep, SettingsDep
from unifyops.identity.auth.auth_service.schemas import (
    AccountPublic,
    LoginRequest,
    RefreshRequest,
    Registration,
    TokenPair,
)
from unifyops_core.client_address import client_address_of
from unifyops_core.stack import SessionDep

router = APIRouter(prefix="/internal", tags=["accounts"])


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
async def register(
    body: Registration, request: Request, session: SessionDep, settings: SettingsDep
) -> AccountPublic:
    # Reached only from auth-api, which forwards the client's address (X-Forwarded-For).
    address = client_address_of(request.scope)
    user = await accounts.register(session, settings, body.email, body.password, address)
    return AccountPublic(id=str(user.id), email=user.email)


@router.post("/sessions")
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    issuer: IssuerDep,
) -> TokenPair:
    return await accounts.login(
        session,
        settings,
        issuer,
        body.email,
        body.password,
        device_token=body.device_token,
        address=client_address_of(request.scope),
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
