"""Request and response bodies of auth-service (the gateway uses the same shapes)."""

from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field, field_validator

DEFAULT_SCOPES = ["profile:read", "profile:write", "environments:read"]


class Credentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return value.strip().lower()


class Registration(Credentials):
    password: str = Field(min_length=12, max_length=1024, description="at least 12 characters")


class LoginRequest(Credentials):
    client_ip: str = Field(default="unknown", max_length=64)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=20, max_length=200)


class AccountPublic(BaseModel):
    id: str
    email: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class ServiceToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
