"""Per-request deadlines that travel with the request: ``X-Request-Deadline``.

The header carries the *remaining* budget in milliseconds (an integer, like gRPC's
``grpc-timeout``), not an absolute time, so clocks of different hosts never have to agree; each
hop re-measures from the moment the request arrived. The first tier (no header) starts the budget
from its settings: ``route_budgets_ms`` by longest matching path prefix, else
``request_budget_ms``. A tier never extends a budget it was given: it takes the smaller of the
header and its own budget.

A request that arrives with no time left (``0`` or less) is answered 504 ``deadline_exceeded``
without running. While it runs, ``remaining()`` says how many seconds are left; the core client
sends that downstream and uses it to bound its own timeouts. Health endpoints have no deadline.

The tier also enforces its budget on itself: a handler still running when the budget is spent is
cancelled and the caller gets the uniform 504. Cancelling is what frees the work below it: asyncpg
answers a cancelled query with a cancel request to PostgreSQL (a statement waiting on a lock stops
there, not after ``statement_timeout``), the transaction rolls back and the connection goes back
to the pool, so a slow dependency holds a tier's resources no longer than its callers wait. Once
the response has started it is no longer cancelled (a half-sent body helps nobody).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextvars import ContextVar

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unifyops_core.error_responses import error_response
from unifyops_core.exceptions import DeadlineExceededError

DEADLINE_HEADER = "X-Request-Deadline"
EXEMPT_PREFIXES = ("/health/",)
# Seconds since an arbitrary point (time.monotonic) when the current request's budget runs out.
_expires_at: ContextVar[float | None] = ContextVar("unifyops_deadline", default=None)


def remaining() -> float | None:
    """Seconds left for the request being served (may be negative), or None without a deadline."""
    expires_at = _expires_at.get()
    return None if expires_at is None else expires_at - time.monotonic()


def set_budget(seconds: float | None) -> object:
    """Start a deadline ``seconds`` from now (None: none); returns a token for ``reset``."""
    return _expires_at.set(None if seconds is None else time.monotonic() + seconds)


def reset(token: object) -> None:
    _expires_at.reset(token)  # type: ignore[arg-type]


def header_value(seconds: float) -> str:
    """The header value for ``seconds`` left (whole milliseconds, never below 0)."""
    return str(max(0, int(seconds * 1000)))


def parse_header(value: str | None) -> int | None:
    """Milliseconds from a header value; None when absent or not an integer (then ignored)."""
    if value is None:
        return None
    value = value.strip()
    digits = value.removeprefix("-")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 12:
        return None
    return int(value)


class DeadlineMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default_budget_ms: int,
        route_budgets_ms: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self._default = default_budget_ms
        # Longest prefix first, so "/v1/profile" wins over "/v1".
        self._routes = sorted((route_budgets_ms or {}).items(), key=lambda item: -len(item[0]))

    def budget_ms(self, path: str) -> int:
        for prefix, budget in self._routes:
            if path.startswith(prefix):
                return budget
        return self._default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        budget = self.budget_ms(path)
        given = parse_header(Headers(scope=scope).get(DEADLINE_HEADER))
        if given is not None:
            if given <= 0:
                response = error_response(
                    status_code=DeadlineExceededError.status_code,
                    message=DeadlineExceededError.default_message,
                    error_type=DeadlineExceededError.error_type,
                )
                await response(scope, receive, send)
                return
            budget = min(budget, given)
        token = set_budget(budget / 1000)
        try:
            await self._run_within(budget / 1000, scope, receive, send)
        finally:
            reset(token)

    async def _run_within(self, seconds: float, scope: Scope, receive: Receive, send: Send) -> None:
        budget = asyncio.timeout(seconds)
        started = False

        async def send_and_note_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # A handler that waited through the budget's cancellation (a cleanup that runs to
                # completion) and answers anyway: its answer goes out; the budget is spent.
                if not budget.expired():
                    budget.reschedule(None)
            await send(message)

        try:
            async with budget:
                await self.app(scope, receive, send_and_note_start)
        except TimeoutError:
            # A TimeoutError of the handler's own (not our budget) is its business.
            if not budget.expired() or started:
                raise
            response = error_response(
                status_code=DeadlineExceededError.status_code,
                message=DeadlineExceededError.default_message,
                error_type=DeadlineExceededError.error_type,
            )
            await response(scope, receive, send)


__all__ = [
    "DEADLINE_HEADER",
    "DeadlineMiddleware",
    "header_value",
    "parse_header",
    "remaining",
    "reset",
    "set_budget",
]
