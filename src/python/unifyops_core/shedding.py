"""Load shedding: at most ``max_in_flight`` requests are served at once by one tier.

One more is answered at once with 503 ``overloaded`` and ``Retry-After`` rather than queued:
a queue in front of a slow dependency only turns slowness into timeouts for everyone, while a
quick 503 lets the caller (or its load balancer) go elsewhere or come back later. Health endpoints
are never shed, so an overloaded tier is not mistaken for a dead one and restarted.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from unifyops_core.error_responses import error_response
from unifyops_core.exceptions import OverloadedError

EXEMPT_PREFIXES = ("/health/",)


class LoadSheddingMiddleware:
    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after: int = 1) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after
        # One event loop per process: a plain counter is enough (no await between test and set).
        self.in_flight = 0
        self.shed_count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.shed_count += 1
            error = OverloadedError(retry_after=self.retry_after)
            response = error_response(
                status_code=error.status_code,
                message=error.message,
                error_type=error.error_type,
                headers=error.headers,
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


__all__ = ["LoadSheddingMiddleware"]
