"""Public account and session endpoints, relayed to auth-service (whose shapes they share)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from unifyops.identity.auth.auth_service.schemas import (
    AccountPublic,
    LoginRequest,
    RefreshRequest,
    Registration,
    TokenPair,
)
from unifyops_core.client import IDEMPOTENCY_KEY_HEADER
from unifyops_core.stack import ServiceDep

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(
    body: Registration,
    service: ServiceDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_KEY_HEADER)] = None,
) -> AccountPublic:
    # With a key auth-service stores the first answer, which also makes the call safe to retry.
    headers = {IDEMPOTENCY_KEY_HEADER: idempotency_key} if idempotency_key is not None else None
    response = await service.post("/internal/accounts", json=body.model_dump(), headers=headers)
    return AccountPublic.model_validate(response.json())


@router.post("/login")
async def login(body: LoginRequest, service: ServiceDep) -> TokenPair:
    # The client's address travels as X-Forwarded-For (set by the service client), never in
    # the body: auth-service limits sign-ins by it and by account.
    response = await service.post("/internal/sessions", json=body.model_dump())
    return TokenPair.model_validate(response.json())


@router.post("/refresh")
async def refresh(body: RefreshRequest, service: ServiceDep) -> TokenPair:
    response = await service.post("/internal/sessions/refresh", json=body.model_dump())
    return TokenPair.model_validate(response.json())


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, service: ServiceDep) -> Response:
    await service.post("/internal/sessions/logout", json=body.model_dump())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
