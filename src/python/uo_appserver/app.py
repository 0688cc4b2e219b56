"""The app server as one ASGI application: health, ``/api/*`` relay, and the bundle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

from unifyops_core import tracing
from unifyops_core.logs import configure_logging
from unifyops_core.metrics import MetricsMiddleware, TierMetrics
from uo_appserver import __version__
from uo_appserver.errors import error_response, error_type_for, log
from uo_appserver.headers import HSTS, SECURITY_HEADERS
from uo_appserver.relay import Relay
from uo_appserver.settings import Settings
from uo_appserver.static import Bundle

# One request line plus headers larger than this is refused with 431 (uvicorn is given the same).
MAX_HEADER_BYTES = 16 * 1024
API_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class SecurityHeaders:
    """Adds the security headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.added = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if hsts:
            self.added.append((HSTS[0].lower().encode(), HSTS[1].encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.added if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeaderLimit:
    """Refuses a request whose line and headers together pass ``limit`` bytes (431).

    h11 enforces the same limit only while a header block is still incomplete; one that arrives
    whole in a single read is parsed however large. This makes the limit hold either way.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.limit:
                response = error_response(
                    431, "The request headers are too large", headers={"Connection": "close"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TracedApi:
    """A server span for each ``/api`` call (what the trace is about); the bundle's files, probes
    and scrapes are not traced."""

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        self.app = app
        self.traced = OpenTelemetryMiddleware(
            app, tracer_provider=provider, exclude_spans=["receive", "send"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await self.traced(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class StaticGZip:
    """Gzip for the bundle only: API answers carry tokens, and compressing secrets next to
    attacker-influenced text is what BREACH exploits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/api/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Request failed")
    return error_response(
        exc.status_code, message, error_type_for(exc.status_code), headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    response = error_response(500, "Internal error", "internal_error")
    log("unexpected_error", error=type(exc).__name__, error_id=response.headers["x-error-id"])
    return response


class NamedRoute(Route):
    """A route that leaves itself in the scope, as FastAPI's do, so the metrics label requests by
    its template (``/api/{path:path}``), never by the raw path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope = {**child_scope, "route": self}
        return match, child_scope


def create_app(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> ASGIApp:
    bundle = Bundle(settings.bundle)
    provider = None
    if settings.traces != "off":
        # Spans written to the log (and OTLP export errors) go through the core's JSON lines.
        configure_logging(
            service=settings.service_name, version=__version__, environment=settings.environment
        )
        # Installed before the relay's client exists, so that client is instrumented too.
        provider = tracing.setup(
            service=settings.service_name,
            version=__version__,
            environment=settings.environment,
            exporter="otlp" if settings.traces == "otlp" else "log",
            otlp_endpoint=settings.otlp_endpoint,
            sample_ratio=settings.trace_sample_ratio,
        )
    relay = Relay(
        settings.api_url,
        secure=settings.secure_cookie,
        timeout=settings.upstream_timeout_seconds,
        transport=transport,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await relay.aclose()

    # With a metrics port, the same series as every other tier (unifyops_core.metrics): requests
    # by route template and status, errors by error_type (relayed ones as the gateway typed them
    # when it did), latency, in flight, build info; served in a thread of their own.
    metrics = None
    if settings.metrics_port:
        metrics = TierMetrics(
            service_name=settings.service_name,
            version=__version__,
            environment=settings.environment,
            image=settings.image,
        )
    app = Starlette(
        routes=[
            NamedRoute("/health/live", bundle.live, methods=["GET", "HEAD"]),
            NamedRoute("/health/ready", bundle.ready, methods=["GET", "HEAD"]),
            NamedRoute("/api/{path:path}", relay.handle, methods=API_METHODS),
            NamedRoute("/{path:path}", bundle.serve, methods=["GET", "HEAD"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=metrics.lifespan(settings.metrics_port, lifespan) if metrics else lifespan,
    )
    served: ASGIApp = StaticGZip(app)
    if provider is not None:
        served = TracedApi(served, provider)
    if metrics is not None:
        served = MetricsMiddleware(served, metrics=metrics)
    limited = HeaderLimit(served, limit=max_header_bytes)
    return SecurityHeaders(limited, hsts=settings.secure_cookie)


__all__ = ["MAX_HEADER_BYTES", "create_app"]
