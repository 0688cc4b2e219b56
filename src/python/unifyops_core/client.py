"""An async HTTP client for calling other UnifyOps services.

What every call gets: a base URL and timeouts; the current request id and client address
propagated; a service token for the target audience (refetched once if the target answers 401
``invalid_service_token``, and only then: any other 401, such as a user's wrong password, is an
answer, and asking again would check the password twice); bounded retries with exponential backoff
for idempotent methods (and writes carrying an ``Idempotency-Key``) on connection errors and
502/503/504, within a retry budget and behind a per-target circuit breaker (breaker.py); the
request's deadline sent on and bounding every timeout (deadline.py); one DEBUG log line per call
with credentials masked (the request's access line is the INFO record); and downstream errors in
the uniform shape raised again as typed exceptions that keep the downstream ``error_id``; a 429
keeps its ``Retry-After``.

Failures of the dependency itself (unreachable, 5xx, a rejected service token) reach the caller
with generic messages: which internal service failed is in the call's log line, never in a body.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import httpx
from loguru import logger

from unifyops_core import deadline, tracing
from unifyops_core.breaker import CircuitBreaker, RetryBudget
from unifyops_core.client_address import FORWARDED_FOR_HEADER
from unifyops_core.context import current_client_address, current_request_id
from unifyops_core.error_shape import is_error_body
from unifyops_core.exceptions import (
    DeadlineExceededError,
    DependencyUnavailableError,
    DownstreamError,
    InvalidServiceTokenError,
    RateLimitedError,
    UnifyOpsError,
    error_class_for,
)
from unifyops_core.keepalive_transport import KeepAliveTransport
from unifyops_core.logs import writes_debug
from unifyops_core.middleware import REQUEST_ID_HEADER
from unifyops_core.redaction import redact_text
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.shared_http import SharedAsyncClient

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# A path (and query) of characters URL parsing keeps as they are: joined to the base URL as text,
# it makes the URL httpx's own merge would (client_test proves it against build_request).
_PLAIN_CHARS = r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/]"
_PLAIN_PATH = re.compile(rf"/(?!/){_PLAIN_CHARS}*(\?(?:{_PLAIN_CHARS}|\?)*)?\Z")

# One client per app, shared by every request: keep as many idle connections as a tier has
# requests in flight, so a burst reuses them instead of opening new TCP connections (and a DNS
# look-up in a thread each) mid-load. httpx's default keeps only 20. Idle connections are dropped
# after 4 s, before uvicorn's 5 s keep-alive timeout (service_cli) closes them from the other side,
# so a request is never sent on a connection the server is closing. DNS is not cached here: with
# pooled connections a look-up happens only per new connection, and a cache would outlive a
# changed Service address.
POOL_LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=64, keepalive_expiry=4.0)
# A connection inside one cluster opens in milliseconds; a target whose address went away (a cut
# network, a vanished pod) would otherwise hold a call for the whole timeout before the retry.
CONNECT_TIMEOUT_SECONDS = 2.0

# What one attempt came to, for the ``uo_client_calls_total`` series (metrics.py).
AttemptObserver = Callable[[str, str], None]  # (target service, outcome)


class ServiceClient:
    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        timeout: float = 5.0,
        max_retries: int = 2,
        backoff: float = 0.1,
        token_provider: ServiceTokenProvider | None = None,
        audience: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if token_provider is not None and audience is None:
            raise ValueError("a token_provider needs the target's audience")
        self.service = service
        self._max_retries = max_retries
        self._backoff = backoff
        self._token_provider = token_provider
        self._audience = audience
        self._http = SharedAsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
            transport=transport or KeepAliveTransport(POOL_LIMITS),
        )
        # httpx keeps the base URL's path ending in "/", yet prints "http://host:port" for "/".
        base, text = self._http.base_url, str(self._http.base_url)
        # Only a base whose text ends in its path (no query, no fragment) can take a path appended.
        self._base_url: str | None = (
            None if base.query or base.fragment else text if text.endswith("/") else text + "/"
        )
        # Told of every attempt (the app's metrics, when it serves them): retries and the breaker
        # at work become visible as calls per request.
        self.on_attempt: AttemptObserver | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    @cached_property
    def breaker(self) -> CircuitBreaker:
        """This client's one target's breaker (assignable, e.g. with other thresholds)."""
        return CircuitBreaker()

    @cached_property
    def retry_budget(self) -> RetryBudget:
        return RetryBudget()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> httpx.Response:
        """Send a request; returns a 2xx/3xx response or raises a ``UnifyOpsError``.

        ``authenticate=False`` sends no service token (for relaying a caller's own credentials).
        A request with an ``Idempotency-Key`` header is retried like an idempotent method: the
        target answers a repeat with the stored first answer instead of applying it twice.
        """
        method = method.upper()
        retryable = method in IDEMPOTENT_METHODS or _has_idempotency_key(headers)
        attempts = 1 + (self._max_retries if retryable else 0)
        self.retry_budget.record_request()
        token_refreshed = False
        attempt = 0
        while True:
            attempt += 1
            left = deadline.remaining()
            if left is not None and left <= 0:
                raise DeadlineExceededError()
            outgoing = await self._headers(headers, authenticate=authenticate)
            started = time.perf_counter()
            if not self.breaker.allow():
                self._log(method, path, params, None, started, attempt, "circuit_open")
                # Fail fast: the target failed repeatedly and its cool-down has not passed.
                raise DependencyUnavailableError(f"circuit to {self.service} is open")
            try:
                response = await self._send(
                    method, path, left, json=json, data=data, params=params, headers=outgoing
                )
            except (httpx.TransportError, TimeoutError) as exc:
                self.breaker.record_failure()
                self._log(method, path, params, None, started, attempt, type(exc).__name__)
                if left is not None and (deadline.remaining() or 0) <= 0:
                    raise DeadlineExceededError() from exc
                if attempt < attempts and self.retry_budget.try_retry():
                    await self._sleep(attempt)
                    continue
                raise DependencyUnavailableError() from exc
            if response.status_code >= 500:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            self._log(method, path, params, response.status_code, started, attempt, None)
            if (
                authenticate
                and self._token_provider
                and not token_refreshed
                and _rejects_service_token(response)
            ):
                # The target rejected our token (revoked, rotated key): fetch a new one once.
                self._token_provider.invalidate(self._audience or "", _bearer(outgoing))
                token_refreshed = True
                continue
            if (
                response.status_code in RETRY_STATUSES
                and attempt < attempts
                and self.retry_budget.try_retry()
            ):
                await self._sleep(attempt)
                continue
            if response.status_code >= 400:
                raise self._error_from(response)
            return response

    async def _send(
        self, method: str, path: str, left: float | None, **kwargs: Any
    ) -> httpx.Response:
        http = tracing.traced(self._http)
        if left is None:
            return await http.send(self._build(method, path, http.timeout, **kwargs))
        # min(configured timeout, what is left of the request's deadline), for every phase and
        # for the call as a whole.
        configured = http.timeout
        bounded = httpx.Timeout(
            connect=_at_most(configured.connect, left),
            read=_at_most(configured.read, left),
            write=_at_most(configured.write, left),
            pool=_at_most(configured.pool, left),
        )
        async with asyncio.timeout(left):
            return await http.send(self._build(method, path, bounded, **kwargs))

    def _build(
        self,
        method: str,
        path: str,
        timeout: httpx.Timeout,
        *,
        json: Any,
        data: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
    ) -> httpx.Request:
        """The request ``self._http.build_request`` would build. A call without a body or params
        to a plain path (the common read) is built directly: httpx's own merge parses the base URL
        and the path apart and joins them again, ~9 % of a gateway's CPU."""
        if (
            self._base_url is not None
            and json is None
            and data is None
            and params is None
            and isinstance(path, str)
            and _PLAIN_PATH.match(path)
        ):
            merged = httpx.Headers(self._http.headers)
            merged.update(headers)
            return httpx.Request(
                method,
                httpx.URL(self._base_url + path[1:]),
                headers=merged,
                extensions={"timeout": timeout.as_dict()},
            )
        return self._http.build_request(
            method, path, json=json, data=data, params=params, headers=headers, timeout=timeout
        )

    async def _headers(
        self, extra: Mapping[str, str] | None, *, authenticate: bool
    ) -> dict[str, str]:
        headers = dict(extra or {})
        left = deadline.remaining()
        if left is not None:
            headers[deadline.DEADLINE_HEADER] = deadline.header_value(left)
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        client_address = current_client_address()
        if client_address:
            # The next hop trusts this as the client (see client_address); never the caller's own.
            headers[FORWARDED_FOR_HEADER] = client_address
        if authenticate and self._token_provider and self._audience:
            token = await self._token_provider.token_for(self._audience)
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _sleep(self, attempt: int) -> None:
        # Full jitter keeps many clients from retrying in lockstep; never sleeps past the deadline.
        pause = random.uniform(0, self._backoff * 2 ** (attempt - 1))  # noqa: S311
        left = deadline.remaining()
        await asyncio.sleep(pause if left is None else max(0.0, min(pause, left)))

    def _log(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        status: int | None,
        started: float,
        attempt: int,
        failure: str | None,
    ) -> None:
        if self.on_attempt is not None:
            self.on_attempt(self.service, _outcome(status, failure))
        if not writes_debug():
            return  # the line's URL and redaction were ~8 % of a gateway's CPU, for nothing
        url = str(self._http.base_url.join(path).copy_merge_params(dict(params or {})))
        logger.bind(
            target=self.service,
            method=method,
            url=redact_text(url),
            status=status,
            attempt=attempt,
            failure=failure,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        ).debug("call {} {} {} -> {}", self.service, method, redact_text(url), status or failure)

    def _error_from(self, response: httpx.Response) -> UnifyOpsError:
        body = _json_or_none(response)
        status = response.status_code
        uniform = is_error_body(body)
        error_id = body["error_id"] if uniform else None
        error_type = body["error_type"] if uniform else "unknown"
        details = body.get("details") if uniform and isinstance(body.get("details"), dict) else None
        if status == RateLimitedError.status_code:
            limited = RateLimitedError(
                body["message"] if uniform else None,
                retry_after=_retry_after(response),
                details=details,
                error_id=error_id,
            )
            if uniform:
                limited.error_type = error_type
            return limited
        if status == DeadlineExceededError.status_code and error_type == "deadline_exceeded":
            return DeadlineExceededError(error_id=error_id)
        if status == DependencyUnavailableError.status_code:
            # Generic on purpose: the downstream's own message may name what it could not reach.
            return DependencyUnavailableError(error_id=error_id)
        cls = error_class_for(error_type, status) if uniform else DownstreamError
        if cls is DownstreamError or _rejects_service_token(response):
            # A 5xx, an answer not in the uniform shape, or our rejected service token: ours to
            # handle, not our caller's (the log line of this call names the service).
            return DownstreamError(
                downstream_status=status,
                downstream_error_type=error_type,
                downstream_error_id=error_id,
                service=self.service,
            )
        error = cls(body["message"], details=details, error_id=error_id)
        error.error_type = error_type
        return error


def _at_most(configured: float | None, left: float) -> float:
    return left if configured is None else min(configured, left)


def _outcome(status: int | None, failure: str | None) -> str:
    """One of few values (a metric label): ok, client_error, server_error, unreachable (no
    answer: connection, timeout), circuit_open (not sent)."""
    if failure == "circuit_open":
        return "circuit_open"
    if status is None:
        return "unreachable"
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "ok"


def _has_idempotency_key(headers: Mapping[str, str] | None) -> bool:
    return any(name.lower() == IDEMPOTENCY_KEY_HEADER.lower() for name in headers or {})


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _rejects_service_token(response: httpx.Response) -> bool:
    """Whether the target said the service token (not the caller's credentials) was rejected."""
    if response.status_code != InvalidServiceTokenError.status_code:
        return False
    body = _json_or_none(response)
    return is_error_body(body) and body["error_type"] == InvalidServiceTokenError.error_type


def _retry_after(response: httpx.Response) -> int | None:
    """Retry-After in seconds; an HTTP date or junk is dropped rather than passed on."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization", "")
    return value.removeprefix("Bearer ") or None


__all__ = ["IDEMPOTENCY_KEY_HEADER", "IDEMPOTENT_METHODS", "RETRY_STATUSES", "ServiceClient"]
