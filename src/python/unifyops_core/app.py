"""The app factory every UnifyOps service starts from: logging, uniform errors, request ids,
health endpoints and the error shape declared in OpenAPI, wired the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from unifyops_core.error_shape import ERROR_RESPONSES
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.health import HealthRegistry, health_router
from unifyops_core.logs import configure_logging
from unifyops_core.middleware import RequestContextMiddleware
from unifyops_core.settings import ServiceSettings


def create_service_app(
    settings: ServiceSettings,
    *,
    version: str,
    health: HealthRegistry | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with UnifyOps behaviour; routes and lifespan are the caller's."""
    configure_logging(
        service=settings.service_name,
        version=version,
        environment=settings.environment,
        level=settings.log_level,
    )
    app = FastAPI(
        title=settings.service_name,
        version=version,
        responses=ERROR_RESPONSES,
        **fastapi_kwargs,
    )
    register_exception_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.state.health = health or HealthRegistry()
    app.include_router(health_router(app.state.health))
    return app


__all__ = ["create_service_app"]
