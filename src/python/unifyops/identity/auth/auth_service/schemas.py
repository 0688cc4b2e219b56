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
    # Proof that this device signed in to this account before (from the login response); the
    # client address comes from the request itself (unifyops_core.client_address).
    device_token: str | None = Field(default=None, max_length=128)


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
    # Only a login issues one (the app keeps it in an httpOnly cookie); refreshes answer null.
    device_token: str | None = None


class ServiceToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
