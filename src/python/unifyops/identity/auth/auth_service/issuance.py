"""Minting tokens: user access tokens, refresh tokens (opaque, stored hashed) and service tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Any

import jwt

from unifyops.identity.auth.auth_service.signing import ALGORITHM, KeyStore
from unifyops_core.security import SERVICE_TOKEN_USE
from unifyops_core.stack import TOKEN_ISSUER, USER_TOKEN_AUDIENCE


def hash_refresh_token(token: str) -> str:
    # Refresh tokens are 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


class Issuer:
    def __init__(self, keys: KeyStore, *, access_ttl: int, service_ttl: int) -> None:
        self._keys = keys
        self._access_ttl = access_ttl
        self._service_ttl = service_ttl

    async def _sign(self, claims: dict[str, Any], ttl: int) -> str:
        kid, private_key = await self._keys.active()
        now = int(time.time())
        payload = {
            "iss": TOKEN_ISSUER,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, private_key, algorithm=ALGORITHM, headers={"kid": kid})

    async def access_token(self, user_id: uuid.UUID, email: str, scopes: list[str]) -> str:
        claims = {
            "sub": str(user_id),
            "aud": USER_TOKEN_AUDIENCE,
            "email": email,
            "scope": " ".join(scopes),
        }
        return await self._sign(claims, self._access_ttl)

    async def service_token(self, client_id: str, audience: str) -> str:
        claims = {"sub": client_id, "aud": audience, "token_use": SERVICE_TOKEN_USE}
        return await self._sign(claims, self._service_ttl)

    @property
    def access_ttl(self) -> int:
        return self._access_ttl

    @property
    def service_ttl(self) -> int:
        return self._service_ttl
