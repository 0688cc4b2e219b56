"""Public account and session endpoints, relayed to auth-service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, EmailStr, Field

from unifyops_core.stack import ServiceDep

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class Registration(BaseModel):
    email: EmailStr
    password: str = Field(min_length=12, max_length=1024, description="at least 12 characters")


class Credentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=20, max_length=200)


class AccountPublic(BaseModel):
    id: str
    email: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: Registration, service: ServiceDep) -> AccountPublic:
    response = await service.post("/internal/accounts", json=body.model_dump())
    return AccountPublic.model_validate(response.json())


@router.post("/login")
async def login(body: Credentials, request: Request, service: ServiceDep) -> TokenPair:
    payload: dict[str, Any] = {
        **body.model_dump(),
        "client_ip": request.client.host if request.client else "unknown",
    }
    response = await service.post("/internal/sessions", json=payload)
    return TokenPair.model_validate(response.json())


@router.post("/refresh")
async def refresh(body: RefreshRequest, service: ServiceDep) -> TokenPair:
    response = await service.post("/internal/sessions/refresh", json=body.model_dump())
    return TokenPair.model_validate(response.json())


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, service: ServiceDep) -> Response:
    await service.post("/internal/sessions/logout", json=body.model_dump())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
