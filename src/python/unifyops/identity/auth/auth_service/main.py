"""auth-service: the app factory and the command line (serve, migrate, register-client, roles)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from loguru import logger
from sqlalchemy.exc import SQLAlchemyError

from unifyops.identity.auth.auth_service import CORE_REQUIREMENT, __version__, roles, roles_cli
from unifyops.identity.auth.auth_service.api.routes import keys, oauth, sessions
from unifyops.identity.auth.auth_service.api.routes import roles as role_routes
from unifyops.identity.auth.auth_service.clients import register_client
from unifyops.identity.auth.auth_service.config import Settings, get_settings
from unifyops.identity.auth.auth_service.issuance import Issuer
from unifyops.identity.auth.auth_service.signing import KeyStore
from unifyops_core import migrations
from unifyops_core.db import Database
from unifyops_core.naming import Component
from unifyops_core.service_cli import run_service_cli
from unifyops_core.stack import create_service_tier

COMPONENT = Component("auth", "service")
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = Database(settings.database)
    # A retired key stays published until the last token it signed has expired.
    longest_token = max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds)
    store = KeyStore(
        database.sessions,
        settings.encryption_key(),
        retire_after=timedelta(seconds=longest_token + settings.token_leeway_seconds + 60),
    )
    app = create_service_tier(
        COMPONENT,
        settings,
        version=__version__,
        core_requirement=CORE_REQUIREMENT,
        routers=[sessions.router, role_routes.router, keys.router],
        public_routers=[oauth.router],
        keys=store,
        database=database,
        on_startup=lambda: ensure_signing_key(store),
    )
    app.state.settings = settings
    app.state.keys = store
    app.state.issuer = Issuer(
        store,
        access_ttl=settings.access_token_ttl_seconds,
        service_ttl=settings.service_token_ttl_seconds,
    )
    return app


async def ensure_signing_key(store: KeyStore) -> None:
    """Create the first signing key at start-up, so the JWKS other tiers trust is never empty.

    Without a database the service still starts (live, not ready); the key is then created on
    first use instead.
    """
    try:
        await store.active()
    except (OSError, SQLAlchemyError) as exc:
        logger.warning("signing key not ensured at start-up: {}", type(exc).__name__)


def migrate(settings: Settings | None = None) -> None:
    """Upgrade the schema, then re-derive every account's scopes from its roles, so a change to
    the role table in code reaches every account with the release that makes it."""
    settings = settings or get_settings()
    migrations.upgrade(MIGRATIONS, settings.database.url())
    asyncio.run(_sync_role_scopes(settings))


async def _sync_role_scopes(settings: Settings) -> None:
    database = Database(settings.database)
    try:
        async with database.sessions() as session:
            changed = await roles.sync_scopes(session)
    finally:
        await database.dispose()
    if changed:
        logger.info("scopes of {} accounts re-derived from their roles", changed)


def register_client_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="auth-service register-client",
        description="Register (or update) a service-to-service caller. The secret is read from "
        "$UO_CLIENT_SECRET or the first line of standard input; only its hash is stored.",
    )
    parser.add_argument("client_id", help="the caller's name, e.g. user-api")
    parser.add_argument(
        "--audience", action="append", required=True, help="a service it may call (repeatable)"
    )
    options = parser.parse_args(argv)
    secret = os.environ.get("UO_CLIENT_SECRET") or sys.stdin.readline().strip()
    if len(secret) < 16:
        print(
            "auth-service register-client: the secret must be at least 16 characters",
            file=sys.stderr,
        )
        return 1

    async def run() -> None:
        database = Database(get_settings().database)
        try:
            async with database.sessions() as session:
                await register_client(session, options.client_id, secret, options.audience)
        finally:
            await database.dispose()

    asyncio.run(run())
    print(f"registered {options.client_id} for {', '.join(options.audience)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["register-client"]:
        return register_client_command(args[1:])
    if args[:1] == ["roles"]:
        return roles_cli.main(args[1:])
    return run_service_cli(
        args,
        name=COMPONENT.name,
        port=COMPONENT.port,
        app_factory=create_app,
        version=__version__,
        migrate=migrate,
    )


def entrypoint() -> None:
    sys.exit(main())
