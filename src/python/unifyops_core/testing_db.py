"""Real PostgreSQL for tests: a fresh database per test (created and dropped on the server the
test command started), and an HTTP server on loopback for end-to-end tests. Not for production.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import MetaData, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from unifyops_core import migrations
from unifyops_core.db import DatabaseSettings

DSN_VARIABLE = "UO_TEST_POSTGRES_DSN"


class TestDatabaseUnavailableError(RuntimeError):
    """The test command did not provide a PostgreSQL server."""


def admin_dsn() -> str:
    dsn = os.environ.get(DSN_VARIABLE)
    if not dsn:
        raise TestDatabaseUnavailableError(
            f"{DSN_VARIABLE} is not set: run the tests with build-support/run-tests, or export "
            f"{DSN_VARIABLE}=$(build-support/services/postgres.sh)"
        )
    return dsn


async def create_test_database() -> DatabaseSettings:
    """A new, empty database on the test server; drop it with ``drop_test_database``."""
    dsn = admin_dsn()
    name = f"uo_test_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(dsn)
    except OSError as exc:
        raise TestDatabaseUnavailableError(
            f"cannot reach the test PostgreSQL ({exc}); "
            "start it with build-support/services/postgres.sh"
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return settings_for(dsn, name)


def settings_for(dsn: str, name: str) -> DatabaseSettings:
    """The settings reaching database ``name`` on the server of ``dsn``, with its account
    (a password too: CI's service container authenticates, the local cluster trusts loopback)."""
    parts = urlsplit(dsn)
    return DatabaseSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=SecretStr(unquote(parts.password or "")),
        name=name,
        pool_size=2,
        max_overflow=2,
    )


async def drop_test_database(database: DatabaseSettings) -> None:
    admin = await asyncpg.connect(admin_dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_database() -> AsyncIterator[DatabaseSettings]:
    """A new, empty database for one test, dropped afterwards."""
    database = await create_test_database()
    try:
        yield database
    finally:
        await drop_test_database(database)


async def check_migrations(
    script_location: Path, metadata: MetaData, database: DatabaseSettings
) -> None:
    """The standard migration checks (as pytest-alembic has them), on a fresh database:
    one head; upgrade to head from empty; the models match the migrated schema; downgrade to base
    leaves nothing behind; upgrade again works."""
    url = database.url()
    assert len(migrations.heads(script_location)) == 1, "migrations must have exactly one head"
    await asyncio.to_thread(migrations.upgrade, script_location, url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(migrations.schema_differences, metadata)
            assert differences == [], f"models differ from the migrated schema: {differences}"
        await asyncio.to_thread(migrations.downgrade, script_location, url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert tables <= {"alembic_version"}, f"downgrade left tables behind: {tables}"
        await asyncio.to_thread(migrations.upgrade, script_location, url)
    finally:
        await engine.dispose()


def free_port() -> int:
    """A port nothing listens on now (for a server that must know its URL before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def serve_on_loopback(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (``port``, or a free one) in a thread; yields its
    base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server for {app.title} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = [
    "DSN_VARIABLE",
    "TestDatabaseUnavailableError",
    "admin_dsn",
    "check_migrations",
    "create_test_database",
    "drop_test_database",
    "free_port",
    "fresh_database",
    "serve_on_loopback",
]
