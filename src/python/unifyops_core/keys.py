"""Where token signing keys come from: configured public keys or a JWKS URL.

A key is always chosen by the token's ``kid`` from a source this service trusts; keys a token
offers about itself (``jwk``, ``jku``, ``x5u``, ``x5c`` headers) are never used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError
from loguru import logger

from unifyops_core import tracing
from unifyops_core.exceptions import DependencyUnavailableError
from unifyops_core.shared_http import SharedAsyncClient


class KeySource(Protocol):
    async def key_for(self, kid: str) -> PyJWK | None:
        """The verification key with this id, or None when the source does not know it."""


def _index(keys: Iterable[PyJWK]) -> dict[str, PyJWK]:
    return {key.key_id: key for key in keys if key.key_id}


class StaticKeys:
    """Public keys given in configuration, as JWKs (dicts with ``kid``)."""

    def __init__(self, jwks: Iterable[Mapping[str, Any]]) -> None:
        self._keys = _index(PyJWK.from_dict(dict(jwk)) for jwk in jwks)

    async def key_for(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)


class JwksKeys:
    """Keys fetched from a JWKS URL and cached.

    An unknown ``kid`` triggers one refresh (the issuer may have rotated keys), but refreshes are
    at least ``min_refresh_interval`` apart, so a flood of tokens with made-up ``kid`` values cannot
    turn into a flood of requests to the issuer.

    While the issuer (the auth stack) is unreachable, the keys of the last successful fetch keep
    verifying tokens for up to ``max_staleness`` seconds (1 h) after that fetch: an auth outage
    shorter than that does not stop the other stacks. Past it the keys are dropped and
    verification fails with 503 ``dependency_unavailable``, so a key the issuer revoked during
    the outage is not trusted for ever.
    """

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        ttl: float = 300.0,
        min_refresh_interval: float = 10.0,
        max_staleness: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._http = http or SharedAsyncClient(timeout=5.0)
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._max_staleness = max_staleness
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._succeeded_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key_for(self, kid: str) -> PyJWK | None:
        if self._fetched_at is None or self._clock() - self._fetched_at > self._ttl:
            await self._refresh(force=True)
        elif kid not in self._keys:
            await self._refresh(force=False)
        if self._succeeded_at is None or self._clock() - self._succeeded_at > self._max_staleness:
            self._keys = {}
            raise DependencyUnavailableError("Signing keys are unavailable or too stale")
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = self._clock()
            if self._fetched_at is not None:
                age = now - self._fetched_at
                # Another task refreshed while this one waited, or the last refresh is too recent.
                if (force and age <= self._ttl) or (not force and age < self._min_refresh_interval):
                    return
            await self._fetch()

    async def _fetch(self) -> None:
        self.fetch_count += 1
        try:
            response = await tracing.traced(self._http).get(self._url)
            response.raise_for_status()
            keys = PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, PyJWKError, PyJWKSetError) as exc:
            logger.bind(jwks_url=self._url).warning("JWKS fetch failed: {}", type(exc).__name__)
            if not self._keys:
                raise DependencyUnavailableError("Signing keys are unavailable") from exc
            # Keep serving with the keys we have; try again after the minimum interval.
            self._fetched_at = self._clock() - self._ttl + self._min_refresh_interval
            return
        self._keys = _index(keys)
        self._fetched_at = self._succeeded_at = self._clock()


__all__ = ["JwksKeys", "KeySource", "StaticKeys"]
