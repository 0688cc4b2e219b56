"""All three stacks running for real in this process: six uvicorn servers on loopback, three fresh
PostgreSQL databases, wired exactly as the chart renders them.

Nothing here says how the tiers connect: each tier's settings come from its rendered Deployment's
env (secrets generated for the referenced names, as `uo up` does), and the migration and client
registration Jobs run their rendered command with their rendered env. Only what a process on
loopback cannot share with a cluster is rewritten: Service URLs (`http://user-service:8001`)
become the loopback URL of that server, the database settings point at a test database, and the
environment service reads a copy of infra/.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from fastapi import FastAPI

from unifyops.identity.auth.auth_api import config as auth_api_config
from unifyops.identity.auth.auth_api import main as auth_api
from unifyops.identity.auth.auth_service import config as auth_service_config
from unifyops.identity.auth.auth_service import main as auth_service
from unifyops.identity.user.user_api import config as user_api_config
from unifyops.identity.user.user_api import main as user_api
from unifyops.identity.user.user_service import config as user_service_config
from unifyops.identity.user.user_service import main as user_service
from unifyops.platform.environment.environment_api import config as environment_api_config
from unifyops.platform.environment.environment_api import main as environment_api
from unifyops.platform.environment.environment_service import config as environment_service_config
from unifyops.platform.environment.environment_service import main as environment_service
from unifyops_core.db import DatabaseSettings
from unifyops_core.naming import STACKS
from unifyops_core.testing_db import (
    create_test_database,
    drop_test_database,
    serve_on_loopback,
)
from uo.local import manifests, values
from uo.render import Manifest
from uo.secret_values import generate

ENVIRONMENT = "test"
# tier -> (Settings class, app factory, command line) per stack
TIERS: dict[str, dict[str, tuple[type[Any], Callable[..., FastAPI], Callable[..., int]]]] = {
    "auth": {
        "service": (auth_service_config.Settings, auth_service.create_app, auth_service.main),
        "api": (auth_api_config.Settings, auth_api.create_app, auth_api.main),
    },
    "user": {
        "service": (user_service_config.Settings, user_service.create_app, user_service.main),
        "api": (user_api_config.Settings, user_api.create_app, user_api.main),
    },
    "environment": {
        "service": (
            environment_service_config.Settings,
            environment_service.create_app,
            environment_service.main,
        ),
        "api": (environment_api_config.Settings, environment_api.create_app, environment_api.main),
    },
}
# The imports above cannot be derived from the registry (Pants infers dependencies from them).
if list(TIERS) != list(STACKS):
    raise ImportError(
        "tests/integration/platform_harness.py: TIERS must hold the stacks of "
        "src/python/unifyops_core/stack_registry.py, in order"
    )
SERVICE_URL = re.compile(r"http://([a-z0-9-]+):(\d+)")


@dataclass
class Platform:
    urls: dict[str, str] = field(default_factory=dict)  # "user-api" -> "http://127.0.0.1:port"
    secrets: dict[str, str] = field(default_factory=dict)  # gateway client secrets, by stack
    databases: dict[str, DatabaseSettings] = field(default_factory=dict)  # by stack

    def url(self, name: str, path: str = "") -> str:
        return self.urls[name] + path


def rendered() -> list[Manifest]:
    repo = Path.cwd()
    objects: list[Manifest] = []
    for stack in STACKS:
        tags = {"database": "t", "service": "t", "api": "t"}  # images do not matter here
        stack_values = values.stack_values(repo, ENVIRONMENT, stack, image_tags=tags, registry="")
        objects += values.render_stack(repo, ENVIRONMENT, stack, stack_values)
    return objects


def database_env(database: DatabaseSettings) -> dict[str, str]:
    return {
        "UO_DATABASE__HOST": database.host,
        "UO_DATABASE__PORT": str(database.port),
        "UO_DATABASE__USER": database.user,
        "UO_DATABASE__PASSWORD": database.password.get_secret_value(),
        "UO_DATABASE__NAME": database.name,
    }


class Wiring:
    """Rendered env per workload, with Service URLs pointed at the loopback servers."""

    def __init__(self, objects: list[Manifest], databases: Mapping[str, DatabaseSettings]) -> None:
        self.items = {w.workload_id: w for w in manifests.workloads(objects)}
        self.secrets = {
            (name, key): generate(stack, name, key)
            for stack, name, key in manifests.secret_refs(objects)
        }
        self.config_maps = manifests.config_maps(objects)
        self.services = manifests.services(objects)
        self.databases = databases
        # Service name -> loopback base URL, chosen before anything starts: a tier may call
        # itself (auth-api checks user tokens against its own published keys).
        serving = [wid for wid, item in self.items.items() if not item.is_job]
        # All at once: a probe port closed before the next is picked can be handed out again
        # (a CI run gave auth-api's port to user-api too).
        picked = distinct_free_ports(2 * len(serving))
        self.ports = dict(zip(serving, picked[: len(serving)], strict=True))
        # All tiers share this process's loopback: each gets its own metrics port too (the
        # chart gives every pod the same one).
        self.metrics_ports = dict(zip(serving, picked[len(serving) :], strict=True))
        self.loopback = {
            service.name: f"http://127.0.0.1:{self.ports[wid]}"
            for service in self.services
            for wid, item in self.items.items()
            if wid in self.ports and service.selects(item)
        }

    def env(self, workload_id: str, **extra: str) -> dict[str, str]:
        from uo.local.specs import resolve_env

        item = self.items[workload_id]
        env = resolve_env(item, self.secrets, self.config_maps)
        if "UO_DATABASE__HOST" in env:
            env.update(database_env(self.databases[item.stack]))
        if "UO_METRICS_PORT" in env:
            env["UO_METRICS_PORT"] = str(self.metrics_ports[workload_id])
        for name, value in env.items():
            env[name] = SERVICE_URL.sub(self._loopback, value)
        return {**env, **extra}

    def _loopback(self, match: re.Match[str]) -> str:
        return self.loopback.get(match.group(1), match.group(0))

    def command(self, workload_id: str) -> list[str]:
        """A Job's arguments to the service's command line (after the image's entry point)."""
        container = self.items[workload_id].container
        return [*list(container.get("command") or [])[1:], *list(container.get("args") or [])]


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    with mock.patch.dict(os.environ, dict(env)):
        yield


def distinct_free_ports(count: int) -> list[int]:
    """``count`` different ports nothing listens on: every probe socket stays bound until all
    are picked."""
    with ExitStack() as probes:
        sockets = [probes.enter_context(socket.socket()) for _ in range(count)]
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]


@contextmanager
def running_platform(infra: Path) -> Iterator[Platform]:
    objects = rendered()
    databases = {stack: asyncio.run(create_test_database()) for stack in STACKS}
    wiring = Wiring(objects, databases)
    platform = Platform(
        databases=databases,
        secrets={
            stack: wiring.secrets[(f"{stack}-api-client", "client-secret")] for stack in STACKS
        },
    )
    try:
        with ExitStack() as servers:
            # The chart's order: per stack, migrations, then (auth) registrations, then the tiers
            # callee first — auth first, because every other stack calls it.
            for workload_id, item in wiring.items.items():
                if not item.is_job:
                    continue
                settings_class, _, command_line = TIERS[item.stack]["service"]
                with environment(wiring.env(workload_id)):
                    settings_module = sys.modules[settings_class.__module__]
                    settings_module.get_settings.cache_clear()  # settings of this Job's env
                    assert command_line(wiring.command(workload_id)) == 0, workload_id
                    settings_module.get_settings.cache_clear()
            for stack in STACKS:
                for tier in ("service", "api"):
                    workload_id = f"{stack}-{tier}"
                    settings_class, factory, _ = TIERS[stack][tier]
                    extra = (
                        {"UO_INFRA_PATH": str(infra), "UO_DESIRED_STATE": "files"}
                        if stack == "environment"
                        else {}
                    )
                    with environment(wiring.env(workload_id, **extra)):
                        settings = settings_class()
                    app = factory(settings)
                    port = wiring.ports[workload_id]
                    platform.urls[workload_id] = servers.enter_context(serve_on_loopback(app, port))
            yield platform
    finally:
        for database in databases.values():
            asyncio.run(drop_test_database(database))
