"""Service-to-service tokens: obtained per target audience, cached, renewed ahead of expiry.

The provider asks the auth stack's token endpoint with OAuth 2 client credentials. Concurrent
callers for the same audience share one fetch; a token the target rejected (401) is dropped so the
next call fetches a fresh one.

A token is renewed once ``renew_at`` (80 %) of its lifetime has passed. Until renewal succeeds the
old token keeps being used, up to ``refresh_margin`` seconds before it expires, and a failed
renewal is tried again only after ``renewal_retry_interval``: a short auth outage therefore costs
neither the calls in flight nor a storm of token requests. Only a token that is about to expire
must be fetched before the call, and then an unreachable auth stack is a 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from loguru import logger

from unifyops_core import tracing
from unifyops_core.exceptions import DependencyUnavailableError, ServerError
from unifyops_core.shared_http import SharedAsyncClient


@dataclass(frozen=True)
class _CachedToken:
    value: str
    renew_at: float
    expires_at: float


class ServiceTokenProvider:
    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient | None = None,
        refresh_margin: float = 10.0,
        renew_at: float = 0.8,
        renewal_retry_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http or SharedAsyncClient(timeout=5.0)
        self._refresh_margin = refresh_margin
        self._renew_at = renew_at
        self._renewal_retry_interval = renewal_retry_interval
        self._next_renewal: dict[str, float] = {}
        self._clock = clock
        self._cache: dict[str, _CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetch_count = 0

    async def token_for(self, audience: str) -> str:
        cached = self._cache.get(audience)
        now = self._clock()
        if cached and now < cached.renew_at:
            return cached.value
        lock = self._locks.setdefault(audience, asyncio.Lock())
        if cached and self._usable(cached, now):
            if lock.locked() or now < self._next_renewal.get(audience, 0.0):
                return cached.value  # someone is renewing it, or auth failed a moment ago
            try:
                return await self._renew(audience, lock)
            except DependencyUnavailableError:
                self._next_renewal[audience] = now + self._renewal_retry_interval
                logger.bind(audience=audience).warning("service token renewal failed; old kept")
                return cached.value
        return await self._renew(audience, lock)

    async def _renew(self, audience: str, lock: asyncio.Lock) -> str:
        async with lock:
            cached = self._cache.get(audience)  # another task may have renewed it meanwhile
            if cached and self._clock() < cached.renew_at:
                return cached.value
            token = await self._fetch(audience)
            self._cache[audience] = token
            self._next_renewal.pop(audience, None)
            return token.value

    def _usable(self, token: _CachedToken, now: float) -> bool:
        return token.expires_at - self._refresh_margin > now

    def invalidate(self, audience: str, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        cached = self._cache.get(audience)
        if cached and (token is None or cached.value == token):
            del self._cache[audience]

    async def _fetch(self, audience: str) -> _CachedToken:
        self.fetch_count += 1
        try:
            response = await tracing.traced(self._http).post(
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
        now, lifetime = self._clock(), float(body.get("expires_in", 60))
        return _CachedToken(
            value=str(body["access_token"]),
            renew_at=now + self._renew_at * lifetime,
            expires_at=now + lifetime,
        )


__all__ = ["ServiceTokenProvider"]
