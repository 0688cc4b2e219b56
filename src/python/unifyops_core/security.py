"""FastAPI dependencies for authentication and authorisation.

An app states what it trusts once, with ``install_auth(app, ...)``; routes then declare what they
need: ``CurrentUser`` for a user token, ``require_scopes(...)`` for scopes, ``require_service(...)``
for service-to-service calls (a token whose audience is this service, from an allowed caller).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from unifyops_core.exceptions import (
    AuthenticationError,
    AuthorizationError,
    InvalidServiceTokenError,
)
from unifyops_core.tokens import Principal, TokenValidator

SERVICE_TOKEN_USE = "service"


@dataclass(frozen=True)
class AuthConfig:
    """The validators an app trusts: for user tokens, and for tokens addressed to this service."""

    user_tokens: TokenValidator | None = None
    service_tokens: TokenValidator | None = None


def install_auth(
    app: FastAPI,
    *,
    user_tokens: TokenValidator | None = None,
    service_tokens: TokenValidator | None = None,
) -> None:
    app.state.unifyops_auth = AuthConfig(user_tokens=user_tokens, service_tokens=service_tokens)


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("A bearer token is required")
    return token.strip()


def _config(request: Request) -> AuthConfig:
    config = getattr(request.app.state, "unifyops_auth", None)
    if not isinstance(config, AuthConfig):
        raise RuntimeError("install_auth(app, ...) was not called for this app")
    return config


async def current_user(request: Request) -> Principal:
    validator = _config(request).user_tokens
    if validator is None:
        raise RuntimeError("this app does not accept user tokens (install_auth user_tokens=)")
    principal = await validator.validate(bearer_token(request))
    if principal.claims.get("token_use") == SERVICE_TOKEN_USE:
        raise AuthenticationError("A user token is required")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_scopes(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency returning the current user when the token has every one of ``scopes``."""

    async def dependency(user: CurrentUser) -> Principal:
        missing = sorted(set(scopes) - user.scopes)
        if missing:
            raise AuthorizationError("Missing required scope", details={"missing_scopes": missing})
        return user

    return dependency


def require_service(allowed_callers: Iterable[str]) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency accepting only service tokens for this service from ``allowed_callers``.

    The token's audience is checked by the app's service-token validator (audience = this
    service); its subject is the calling service's client id. A token that does not validate is
    answered ``invalid_service_token`` (401), the one answer on which the caller's client fetches
    a new token and retries.
    """
    allowed = frozenset(allowed_callers)

    async def dependency(request: Request) -> Principal:
        validator = _config(request).service_tokens
        if validator is None:
            raise RuntimeError(
                "this app does not accept service tokens (install_auth service_tokens=)"
            )
        try:
            principal = await validator.validate(bearer_token(request))
        except AuthenticationError as exc:
            raise InvalidServiceTokenError(exc.message) from exc
        if principal.claims.get("token_use") != SERVICE_TOKEN_USE:
            raise AuthorizationError("A service token is required")
        if principal.subject not in allowed:
            raise AuthorizationError("This caller may not call this service")
        return principal

    return dependency


__all__ = [
    "SERVICE_TOKEN_USE",
    "AuthConfig",
    "CurrentUser",
    "bearer_token",
    "current_user",
    "install_auth",
    "require_scopes",
    "require_service",
]
