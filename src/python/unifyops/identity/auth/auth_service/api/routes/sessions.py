"""Accounts and sessions (called by auth-api only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from unifyops.identity.auth.auth_service import accounts
from unifyops.identity.auth.auth_service.api.deps import IssuerDep, SettingsDep
from unifyops.identity.auth.auth_service.models import User, idempotency_keys
from unifyops.identity.auth.auth_service.schemas import (
    AccountPublic,
    LoginRequest,
    RefreshRequest,
    Registration,
    TokenPair,
)
from unifyops_core import idempotency
from unifyops_core.client import IDEMPOTENCY_KEY_HEADER
from unifyops_core.client_address import client_address_of
from unifyops_core.stack import SessionDep

router = APIRouter(prefix="/internal", tags=["accounts"])
_REGISTER_SCOPE = "register"


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
async def register(
    body: Registration,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_KEY_HEADER)] = None,
) -> AccountPublic:
    # Reached only from auth-api, which forwards the client's address (X-Forwarded-For).
    address = client_address_of(request.scope)
    if idempotency_key is None:
        user = await accounts.register(session, settings, body.email, body.password, address)
        return AccountPublic(id=str(user.id), email=user.email)
    # Counted first: the count commits, and the reservation below must stay in one transaction
    # with the account it records.
    await accounts.charge_registration(session, settings, address)
    # The fingerprint covers the email only: even a fast hash of the password must not be stored.
    stored = await idempotency.reserve(
        session,
        idempotency_keys,
        scope=_REGISTER_SCOPE,
        key=idempotency_key,
        request={"email": body.email},
    )
    if stored is not None:
        return AccountPublic.model_validate(stored)

    async def remember(user: User) -> None:
        answer = AccountPublic(id=str(user.id), email=user.email)
        await idempotency.record(
            session,
            idempotency_keys,
            scope=_REGISTER_SCOPE,
            key=idempotency_key,
            response=answer.model_dump(mode="json"),
        )

    user = await accounts.register(
        session, settings, body.email, body.password, address, before_commit=remember, charged=True
    )
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
