"""Request and response bodies of auth-service (the gateway uses the same shapes)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, EmailStr, Field, field_validator

# Roles and the scopes each grants, defined here once (auth-service issues them in the access
# token's ``scope`` claim; the gateways check scopes, never roles). Each role includes the one
# before it, so granting a higher role never takes a lower one's access away.
MEMBER_SCOPES: Final = ("profile:read", "profile:write")
ROLE_SCOPES: Final[dict[str, tuple[str, ...]]] = {
    # Any account: its own profile, nothing else.
    "member": MEMBER_SCOPES,
    # Reads what runs where: environments, deployment history, promotion diffs.
    "viewer": (*MEMBER_SCOPES, "environments:read"),
    # The release tooling's credential: records deployments.
    "deployer": (*MEMBER_SCOPES, "environments:read", "deployments:write"),
    # Everything, including other users' profiles, role management and the request logs (the
    # dashboard's error-id search: every tier's lines of any user's request).
    "admin": (
        *MEMBER_SCOPES,
        "environments:read",
        "deployments:write",
        "logs:read",
        "profiles:admin",
        "roles:read",
        "roles:write",
    ),
}
RoleName = Literal["member", "viewer", "deployer", "admin"]
BASE_ROLE: Final = "member"  # every account has it; it cannot be revoked
ADMIN_ROLE: Final = "admin"  # at least one account keeps it


def scopes_of(roles: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes a set of roles grants, sorted (unknown role names grant nothing)."""
    return sorted({scope for role in roles for scope in ROLE_SCOPES.get(role, ())})


# What a fresh account gets: the base role's scopes only.
DEFAULT_SCOPES = scopes_of([BASE_ROLE])


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


class RoleChange(BaseModel):
    email: EmailStr
    role: RoleName

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return value.strip().lower()


class AccountRoles(BaseModel):
    id: str
    email: str
    roles: list[str]
    scopes: list[str]


class RoleDefinition(BaseModel):
    name: str
    scopes: list[str]


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
