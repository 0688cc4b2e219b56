"""environment-service: the app factory and the command line (serve, migrate)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from unifyops.platform.environment.environment_service import CORE_REQUIREMENT, __version__
from unifyops.platform.environment.environment_service.api.routes import environments
from unifyops.platform.environment.environment_service.config import Settings, get_settings
from unifyops.platform.environment.environment_service.desired import (
    DesiredState,
    DesiredStateCache,
    RecordedDesiredState,
)
from unifyops_core import migrations
from unifyops_core.keys import KeySource
from unifyops_core.naming import Component
from unifyops_core.service_cli import run_service_cli
from unifyops_core.stack import create_service_tier

COMPONENT = Component("environment", "service")
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, keys: KeySource | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service_tier(
        COMPONENT,
        settings,
        version=__version__,
        core_requirement=CORE_REQUIREMENT,
        routers=[environments.router],
        keys=keys,
    )
    desired: DesiredState = (
        RecordedDesiredState()
        if settings.desired_state == "records"
        else DesiredStateCache(settings.infra_path)
    )
    app.state.desired = desired
    app.state.prometheus_url = settings.prometheus_url
    app.state.logs_url = settings.logs_url
    return app


def migrate(settings: Settings | None = None) -> None:
    migrations.upgrade(MIGRATIONS, (settings or get_settings()).database.url())


def main(argv: Sequence[str] | None = None) -> int:
    return run_service_cli(
        argv,
        name=COMPONENT.name,
        port=COMPONENT.port,
        app_factory=create_app,
        version=__version__,
        migrate=migrate,
    )


def entrypoint() -> None:
    sys.exit(main())
