"""user-api: the app factory and the command line (serve)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import httpx
from fastapi import FastAPI

from unifyops.identity.user.user_api import CORE_REQUIREMENT, __version__
from unifyops.identity.user.user_api.api.routes import profiles
from unifyops.identity.user.user_api.config import Settings, get_settings
from unifyops_core.keys import KeySource
from unifyops_core.naming import Component
from unifyops_core.service_cli import run_service_cli
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.stack import create_gateway_tier

COMPONENT = Component("user", "api")


def create_app(
    settings: Settings | None = None,
    keys: KeySource | None = None,
    token_provider: ServiceTokenProvider | None = None,
    service_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    return create_gateway_tier(
        COMPONENT,
        settings or get_settings(),
        version=__version__,
        core_requirement=CORE_REQUIREMENT,
        routers=[profiles.router],
        keys=keys,
        token_provider=token_provider,
        service_transport=service_transport,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_service_cli(
        argv, name=COMPONENT.name, port=COMPONENT.port, app_factory=create_app, version=__version__
    )


def entrypoint() -> None:
    sys.exit(main())
