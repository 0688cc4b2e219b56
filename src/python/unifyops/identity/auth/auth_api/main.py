"""auth-api: the app factory and the command line (serve)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import httpx
from fastapi import FastAPI

from unifyops.identity.auth.auth_api import CORE_REQUIREMENT, __version__
from unifyops.identity.auth.auth_api.api.routes import auth, keys, roles
from unifyops.identity.auth.auth_api.config import Settings, get_settings
from unifyops_core.keys import KeySource
from unifyops_core.naming import Component
from unifyops_core.service_cli import run_service_cli
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.stack import create_gateway_tier

COMPONENT = Component("auth", "api")


def create_app(
    settings: Settings | None = None,
    token_provider: ServiceTokenProvider | None = None,
    *,
    user_keys: KeySource | None = None,
    service_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``user_keys`` and ``service_transport`` let tests check user tokens against a test key and
    reach an in-process auth-service; by default the auth stack's JWKS and the network."""
    settings = settings or get_settings()
    return create_gateway_tier(
        COMPONENT,
        settings,
        version=__version__,
        core_requirement=CORE_REQUIREMENT,
        routers=[auth.router, roles.router, keys.router],
        token_provider=token_provider,
        keys=user_keys,
        service_transport=service_transport,
        relay_sessions=False,  # these are its own routes
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_service_cli(
        argv, name=COMPONENT.name, port=COMPONENT.port, app_factory=create_app, version=__version__
    )


def entrypoint() -> None:
    sys.exit(main())
