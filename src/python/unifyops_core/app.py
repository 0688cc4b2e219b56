"""The app factory every UnifyOps service starts from: logging, uniform errors, request ids,
a guard against oversized and unstorable input, request deadlines and load shedding (see
deadline.py, shedding.py), security headers, health endpoints, Prometheus metrics on their own
port (metrics.py), OpenTelemetry traces when configured (tracing.py) and the error shape
declared in OpenAPI, wired the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from unifyops_core import tracing
from unifyops_core.deadline import DeadlineMiddleware
from unifyops_core.error_schema import ERROR_RESPONSES
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.health import HealthRegistry, health_router
from unifyops_core.heap import frozen_while_serving
from unifyops_core.logs import configure_logging
from unifyops_core.metrics import MetricsMiddleware, TierMetrics
from unifyops_core.middleware import RequestContextMiddleware
from unifyops_core.request_guard import RequestGuardMiddleware
from unifyops_core.security_headers import SecurityHeadersMiddleware
from unifyops_core.settings import ServiceSettings
from unifyops_core.shedding import LoadSheddingMiddleware


def create_service_app(
    settings: ServiceSettings,
    *,
    version: str,
    health: HealthRegistry | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with UnifyOps behaviour; routes and lifespan are the caller's.

    With ``settings.metrics_port`` set, ``app.state.metrics`` is the app's ``TierMetrics``
    (served on that port while the app runs); otherwise it is None.
    """
    configure_logging(
        service=settings.service_name,
        version=version,
        environment=settings.environment,
        level=settings.log_level,
    )
    if not settings.serves_api_docs:
        # The schema maps every route and field for an attacker; only developers need it.
        fastapi_kwargs = fastapi_kwargs | {"docs_url": None, "redoc_url": None, "openapi_url": None}
    metrics = None
    if settings.metrics_port:
        metrics = TierMetrics(
            service_name=settings.service_name,
            version=version,
            environment=settings.environment,
            image=settings.image,
        )
        lifespan = metrics.lifespan(settings.metrics_port, fastapi_kwargs.get("lifespan"))
        fastapi_kwargs = fastapi_kwargs | {"lifespan": lifespan}
    # Outermost of the lifespans: the heap is frozen once every start-up inside it is done.
    fastapi_kwargs = fastapi_kwargs | {
        "lifespan": frozen_while_serving(fastapi_kwargs.get("lifespan"))
    }
    app = FastAPI(
        title=settings.service_name,
        version=version,
        responses=ERROR_RESPONSES,
        **fastapi_kwargs,
    )
    register_exception_handlers(app)
    # Added innermost first: headers wrap everything, the request context wraps the guard, load
    # shedding and the deadline, so a refused request still gets its request id, access line and
    # security headers. Shedding comes before the deadline: it is the cheaper refusal.
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        DeadlineMiddleware,
        default_budget_ms=settings.request_budget_ms,
        route_budgets_ms=settings.route_budgets_ms,
    )
    app.add_middleware(LoadSheddingMiddleware, max_in_flight=settings.max_in_flight)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if metrics is not None:
        # Outermost: it sees every request, shed and refused ones too, with its final status.
        app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    if settings.traces != "off":
        # Outermost of all: the server span covers every request but probes and scrapes, so
        # every line written while serving it carries its trace and span ids.
        provider = tracing.setup(
            service=settings.service_name,
            version=version,
            environment=settings.environment,
            exporter=settings.traces,
            otlp_endpoint=settings.otlp_endpoint,
            sample_ratio=settings.trace_sample_ratio,
        )
        tracing.instrument_app(app, provider)
    app.state.health = health or HealthRegistry()
    if metrics is not None:
        metrics.watch_readiness(app.state.health)
    app.include_router(health_router(app.state.health))
    return app


__all__ = ["create_service_app"]
