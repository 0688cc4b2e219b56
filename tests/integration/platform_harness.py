"""All three stacks running for real: six uvicorn servers on loopback, three fresh PostgreSQL
databases, client credentials registered, every tier wired to the next by URL, as in a cluster.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from unifyops.identity.auth.auth_api import config as auth_api_config
from unifyops.identity.auth.auth_api import main as auth_api
from unifyops.identity.auth.auth_service import config as auth_service_config
from unifyops.identity.auth.auth_service import main as auth_service
from unifyops.identity.auth.auth_service.clients import register_client
from unifyops.identity.user.user_api import config as user_api_config
from unifyops.identity.user.user_api import main as user_api
from unifyops.identity.user.user_service import config as user_service_config
from unifyops.identity.user.user_service import main as user_service
from unifyops.platform.environment.environment_api import config as environment_api_config
from unifyops.platform.environment.environment_api import main as environment_api
from unifyops.platform.environment.environment_service import config as environment_service_config
from unifyops.platform.environment.environment_service import main as environment_service
from unifyops_core.db import Database, DatabaseSettings
from unifyops_core.naming import STACKS
from unifyops_core.testing_db import create_test_database, drop_test_database, serve_on_loopback


@dataclass
class Platform:
    urls: dict[str, str] = field(default_factory=dict)  # "user-api" -> "http://127.0.0.1:port"
    secrets: dict[str, str] = field(default_factory=dict)  # gateway client secrets

    def url(self, name: str, path: str = "") -> str:
        return self.urls[name] + path


async def _register_clients(database: DatabaseSettings, client_secrets: dict[str, str]) -> None:
    db = Database(database)
    try:
        async with db.sessions() as session:
            for stack, secret in client_secrets.items():
                await register_client(session, f"{stack}-api", secret, [f"{stack}-service"])
    finally:
        await db.dispose()


@contextmanager
def running_platform(infra: Path) -> Iterator[Platform]:
    platform = Platform(secrets={stack: secrets.token_urlsafe(24) for stack in STACKS})
    databases = {stack: asyncio.run(create_test_database()) for stack in STACKS}
    try:
        with ExitStack() as servers:
            auth_settings = auth_service_config.Settings(database=databases["auth"])
            auth_service.migrate(auth_settings)
            asyncio.run(_register_clients(databases["auth"], platform.secrets))
            platform.urls["auth-service"] = servers.enter_context(
                serve_on_loopback(auth_service.create_app(auth_settings))
            )
            platform.urls["auth-api"] = servers.enter_context(
                serve_on_loopback(
                    auth_api.create_app(
                        auth_api_config.Settings(
                            service_url=platform.url("auth-service"),
                            token_url=platform.url("auth-service", "/oauth/token"),
                            jwks_url=platform.url("auth-service", "/unused"),
                            client_secret=platform.secrets["auth"],
                        )
                    )
                )
            )
            # The service tiers trust the auth stack's published keys, given as configuration.
            jwks = httpx.get(platform.url("auth-api", "/.well-known/jwks.json")).text
            jwks_url = platform.url("auth-api", "/.well-known/jwks.json")
            token_url = platform.url("auth-api", "/oauth/token")

            user_settings = user_service_config.Settings(
                database=databases["user"], trusted_jwks=jwks
            )
            user_service.migrate(user_settings)
            platform.urls["user-service"] = servers.enter_context(
                serve_on_loopback(user_service.create_app(user_settings))
            )
            platform.urls["user-api"] = servers.enter_context(
                serve_on_loopback(
                    user_api.create_app(
                        user_api_config.Settings(
                            service_url=platform.url("user-service"),
                            client_secret=platform.secrets["user"],
                            jwks_url=jwks_url,
                            token_url=token_url,
                            auth_url=platform.url("auth-api"),
                        )
                    )
                )
            )

            env_settings = environment_service_config.Settings(
                database=databases["environment"], trusted_jwks=jwks, infra_path=infra
            )
            environment_service.migrate(env_settings)
            platform.urls["environment-service"] = servers.enter_context(
                serve_on_loopback(environment_service.create_app(env_settings))
            )
            platform.urls["environment-api"] = servers.enter_context(
                serve_on_loopback(
                    environment_api.create_app(
                        environment_api_config.Settings(
                            service_url=platform.url("environment-service"),
                            client_secret=platform.secrets["environment"],
                            jwks_url=jwks_url,
                            token_url=token_url,
                            auth_url=platform.url("auth-api"),
                        )
                    )
                )
            )
            yield platform
    finally:
        for database in databases.values():
            asyncio.run(drop_test_database(database))
