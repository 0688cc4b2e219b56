"""Alembic, the same way in every service: configured in code (no alembic.ini), the URL from
settings, async env.py in one shared function, and a short ``lock_timeout`` so a migration that
waits for a busy table fails fast instead of stalling every query queued behind it.

Alembic is imported by the functions that use it, not with the module: every service imports
this module at start for its ``migrate`` command, and only that command needs Alembic (~0.15 s
of a serving process's start on a 2-core machine).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_LOCK_TIMEOUT = "5s"


def alembic_config(
    script_location: Path, url: URL, *, lock_timeout: str = DEFAULT_LOCK_TIMEOUT
) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    # Attributes rather than the ini option: a password may contain '%', which ini files mangle.
    config.attributes["database_url"] = url
    config.attributes["lock_timeout"] = lock_timeout
    return config


def upgrade(script_location: Path, url: URL, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(script_location, url), revision)


def downgrade(script_location: Path, url: URL, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(script_location, url), revision)


def heads(script_location: Path) -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory(str(script_location)).get_heads())


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    from alembic import context

    config = context.config
    url: URL = config.attributes["database_url"]
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata, config.attributes["lock_timeout"]))


async def _run_online(url: URL, target_metadata: MetaData, lock_timeout: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate, target_metadata, lock_timeout)
            await connection.commit()
    finally:
        await engine.dispose()


def _migrate(connection: Connection, target_metadata: MetaData, lock_timeout: str) -> None:
    from alembic import context

    connection.execute(text(f"SET lock_timeout = '{lock_timeout}'"))
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def schema_differences(connection: Connection, target_metadata: MetaData) -> list[Any]:
    """What autogenerate would change: empty when the models match the migrated schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    migration_context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(migration_context, target_metadata))


__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "alembic_config",
    "downgrade",
    "heads",
    "run_env",
    "schema_differences",
    "upgrade",
]
