"""Service-to-service tokens: obtained per target audience, cached until shortly before expiry.

The provider asks the auth stack's token endpoint with OAuth 2 client credentials. Concurrent
callers for the same audience share one fetch; a token the target rejected (401) is dropped so the
next call fetches a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from unifyops_core.exceptions import DependencyUnavailableError, ServerError


@dataclass(frozen=True)
class _CachedToken:
    value: str
    expires_at: float


class ServiceTokenProvider:
    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient | None = None,
        refresh_margin: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._cache: dict[str, _CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetch_count = 0

    async def token_for(self, audience: str) -> str:
        cached = self._fresh(audience)
        if cached:
            return cached
        lock = self._locks.setdefault(audience, asyncio.Lock())
        async with lock:
            cached = self._fresh(audience)  # another task may have fetched it meanwhile
            if cached:
                return cached
            token = await self._fetch(audience)
            self._cache[audience] = token
            return token.value

    def invalidate(self, audience: str, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        cached = self._cache.get(audience)
        if cached and (token is None or cached.value == token):
            del self._cache[audience]

    def _fresh(self, audience: str) -> str | None:
        cached = self._cache.get(audience)
        if cached and cached.expires_at - self._refresh_margin > self._clock():
            return cached.value
        return None

    async def _fetch(self, audience: str) -> _CachedToken:
        self.fetch_count += 1
        try:
            response = await self._http.post(
                self._token_url,
                data={"grant_type": "client_credentials", "audience": audience},
                auth=(self._client_id, self._client_secret),
            )
        except httpx.HTTPError as exc:
            raise DependencyUnavailableError("The token service is unavailable") from exc
        if response.status_code in (400, 401, 403):
            # A misconfiguration of this service, not the end user's fault: a 500, not a 401.
            raise ServerError("This service's client credentials were rejected")
        if response.status_code != 200:
            raise DependencyUnavailableError("The token service is unavailable")
        body = response.json()
        return _CachedToken(
            value=str(body["access_token"]),
            expires_at=self._clock() + float(body.get("expires_in", 60)),
        )


__all__ = ["ServiceTokenProvider"]
