"""Validation of JWTs (user access tokens and service-to-service tokens) with PyJWT.

Strict by construction: an explicit algorithm allow-list (never ``none``, never an HMAC algorithm
when keys are asymmetric), required ``exp iat iss aud sub``, the key chosen by ``kid`` from a
trusted source, the algorithm bound to the key's own type. Every rejection is an
``AuthenticationError`` (401) with a message that says what was wrong but nothing secret.

A token that validated is remembered (up to ``cache_size`` of them, exact token text as the key):
a service token is presented on every call of its lifetime, and parsing and verifying it again
each time was a tenth of a service's CPU per request (issue 16). A remembered token is accepted
again only while it has not expired (same leeway) and while the key source still returns the very
key object it was verified with, so a rotation, a JWKS refresh or a revoked key forces a full
validation. Only tokens with a valid signature are remembered, so the cache cannot be filled by
tokens an attacker makes up.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
from jwt import PyJWK

from unifyops_core.exceptions import AuthenticationError
from unifyops_core.keys import KeySource

DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")

# Key types each algorithm family may be verified with: blocks HS256-with-the-RSA-public-key.
_KEY_TYPES = {"RS": {"RSA"}, "PS": {"RSA"}, "ES": {"EC"}, "Ed": {"OKP"}}


@dataclass(frozen=True)
class Principal:
    """Who a validated token speaks for."""

    subject: str
    scopes: frozenset[str]
    claims: dict[str, Any] = field(repr=False)

    def has_scopes(self, *required: str) -> bool:
        return set(required) <= self.scopes


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ()))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(item) for item in raw)
    return frozenset()


def _key_matches(algorithm: str, key: PyJWK) -> bool:
    allowed = _KEY_TYPES.get(algorithm[:2])
    return allowed is not None and key.key_type in allowed


class TokenValidator:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway_seconds: float = 30.0,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = [audience] if isinstance(audience, str) else list(audience)
        self._algorithms = tuple(alg for alg in algorithms if alg[:2] in _KEY_TYPES)
        if not self._algorithms:
            raise ValueError("no asymmetric algorithm allowed; HMAC and 'none' are never accepted")
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        self._clock = clock
        # token -> (kid, the key it was verified with, its principal, its exp)
        self._verified: OrderedDict[str, tuple[str, PyJWK, Principal, float]] = OrderedDict()

    async def validate(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            kid, key, principal, expires = remembered
            if self._clock() >= expires + self._leeway:
                del self._verified[token]
                raise AuthenticationError("Token expired")
            if await self._keys.key_for(kid) is key:
                self._verified.move_to_end(token)
                # A copy: a route that changed its principal's claims must not change the next.
                return replace(principal, claims=dict(principal.claims))
            self._verified.pop(token, None)
        principal, kid, key = await self._validate(token)
        if self._cache_size > 0:
            self._verified[token] = (kid, key, principal, float(principal.claims["exp"]))
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
            principal = replace(principal, claims=dict(principal.claims))
        return principal

    async def _validate(self, token: str) -> tuple[Principal, str, PyJWK]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError("Malformed token") from exc
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise AuthenticationError("Token algorithm not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("Token has no key id")
        key = await self._keys.key_for(kid)
        if key is None:
            raise AuthenticationError("Token signed with an unknown key")
        if not _key_matches(algorithm, key):
            raise AuthenticationError("Token algorithm does not match its key")
        claims = self._decode(token, key, algorithm)
        principal = Principal(subject=str(claims["sub"]), scopes=_scopes(claims), claims=claims)
        return principal, kid, key

    def _decode(self, token: str, key: PyJWK, algorithm: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("Token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthenticationError("Token not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError("Token audience not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError("Token issuer not accepted") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"Token is missing the '{exc.claim}' claim") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError("Invalid token") from exc


__all__ = ["DEFAULT_ALGORITHMS", "REQUIRED_CLAIMS", "Principal", "TokenValidator"]
