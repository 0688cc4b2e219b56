"""Database access for services: async SQLAlchemy 2 over asyncpg, configured from settings.

Every service gets the same engine setup (pool sized by settings, pre-ping, a statement timeout),
a session factory with ``expire_on_commit=False`` (objects stay usable after commit in async code),
and a readiness check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class DatabaseSettings(BaseModel):
    """Where the database is and how many connections to keep; read from ``UO_DATABASE_*``."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    name: str = "postgres"
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout_seconds: float = 5.0
    statement_timeout_ms: int = 15_000

    def url(self, *, driver: str = "postgresql+asyncpg") -> URL:
        # URL.create escapes the password, so any character is safe in it.
        return URL.create(
            driver,
            username=self.user,
            password=self.password.get_secret_value() or None,
            host=self.host,
            port=self.port,
            database=self.name,
        )


class Database:
    def __init__(self, settings: DatabaseSettings, **engine_options: Any) -> None:
        self.settings = settings
        self.engine: AsyncEngine = create_async_engine(
            settings.url(),
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_seconds,
            pool_pre_ping=True,
            # Bound values never appear in error messages (and so never in logs): they may be
            # a user's input, a token or a password hash.
            hide_parameters=True,
            connect_args={
                "server_settings": {"statement_timeout": str(settings.statement_timeout_ms)},
                "timeout": settings.pool_timeout_seconds,
            },
            **engine_options,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def ping(self) -> None:
        """Readiness: one round trip to the database."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session per request; committed by the route, rolled back if the request fails."""
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


__all__ = ["Database", "DatabaseSettings"]
