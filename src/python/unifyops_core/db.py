"""Database access for services: async SQLAlchemy 2 over asyncpg, configured from settings.

Every service gets the same engine setup (pool sized by settings, recycled connections, a
statement timeout), a session factory with ``expire_on_commit=False`` (objects stay usable after
commit in async code), a read-only session and a read-only Core connection without a
transaction, and a readiness check.

No pre-ping: it costs a round trip on every checkout. A connection the server has dropped fails
the statement it is used for instead; SQLAlchemy recognises the disconnect and invalidates every
connection of the pool opened before it, so a database restart costs the requests in flight at
that moment, not one failure per pooled connection. ``pool_recycle`` retires connections before
idle-timeouts on the way (proxies, poolers) cut them.

Requests wait for a connection in arrival order (``admitted``): SQLAlchemy's async pool lets a
newcomer take a connection that was just returned ahead of the requests already waiting, which
at more requests in flight than connections left some of them waiting for most of a second
(issue 16: p99 0.6-0.9 s at 32 connections against a 20-connection pool, p50 10 ms).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from loguru import logger
from pydantic import BaseModel, SecretStr
from sqlalchemy import URL, Select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn


class DatabaseSettings(BaseModel):
    """Where the database is and how many connections to keep; read from ``UO_DATABASE_*``."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    name: str = "postgres"
    # Sized for a tier's concurrency (a gateway keeps up to 64 calls in flight, see client.py).
    # All of it steady: SQLAlchemy closes an overflow connection as soon as it is returned, so
    # under sustained load above pool_size every burst connection was opened and closed again
    # (a TCP connect, authentication and type introspection, a few CPU-ms each) every few requests.
    pool_size: int = 20
    max_overflow: int = 0
    pool_timeout_seconds: float = 5.0
    pool_recycle_seconds: int = 1800
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


# Compiled statements kept for fetch_row; far more than a tier's hot reads.
_COMPILED_STATEMENTS_KEPT = 256
# SQLSTATEs of a server shutting down or restarting (class 57P): the connection is gone.
_SERVER_GOING_AWAY = ("57P01", "57P02", "57P03")


def _lost(exc: BaseException) -> bool:
    """A driver error that means the connection (or the server) is gone."""
    return isinstance(exc, OSError | asyncpg.PostgresConnectionError) or (
        getattr(exc, "sqlstate", None) in _SERVER_GOING_AWAY
    )


class Database:
    def __init__(self, settings: DatabaseSettings, **engine_options: Any) -> None:
        self.settings = settings
        self.engine: AsyncEngine = create_async_engine(
            settings.url(),
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_seconds,
            pool_recycle=settings.pool_recycle_seconds,
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
        # Each statement is its own implicit transaction: no BEGIN before a read and no
        # ROLLBACK/COMMIT after it, one round trip instead of three.
        self.read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._admission: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._compiled_statements: dict[Select[Any], tuple[Any, str, list[str]]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _admission_here(self) -> asyncio.Semaphore:
        # asyncio's semaphore is first come, first served: no newcomer overtakes a waiter. One
        # per event loop (it belongs to the loop it waits in; tests run apps in several loops).
        loop = asyncio.get_running_loop()
        if self._admission is None or self._admission[0] is not loop:
            places = self.settings.pool_size + self.settings.max_overflow
            self._admission = (loop, asyncio.Semaphore(places))
        return self._admission[1]

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Hold one of the pool's connections' places, taken in arrival order; waiting longer
        than the pool's timeout fails as the pool itself would (``sqlalchemy.exc.TimeoutError``)."""
        admission = self._admission_here()
        try:
            async with asyncio.timeout(self.settings.pool_timeout_seconds):
                await admission.acquire()
        except TimeoutError as exc:
            raise PoolTimeoutError(
                f"no database connection free within {self.settings.pool_timeout_seconds} s"
            ) from exc
        try:
            yield
        finally:
            admission.release()

    async def ping(self) -> None:
        """Readiness: one round trip to the database."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def session(self) -> AsyncGenerator[AsyncSession, None]:
        """A session per request; committed by the route, rolled back if the request fails."""
        async with self.admitted(), self.sessions() as session:
            yield session

    def close_behind(self, sessions: AsyncGenerator[Any, None]) -> None:
        """Close a failed request's ``session()`` in a task of its own, which keeps the
        request's context: the request answers at once. Closing rolls the transaction back,
        and SQLAlchemy waits for that ROLLBACK even through a cancellation, so on a connection
        gone silent (a cut network) an inline close would hold the answer past any deadline.
        The pool place is returned when the close is done; a close that fails (the connection is
        then discarded) is logged with the request's id."""

        async def close() -> None:
            try:
                await sessions.aclose()
            except Exception:
                logger.opt(exception=True).warning(
                    "the failed request's database session did not close cleanly; its "
                    "connection is discarded"
                )

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)  # a task nothing references may be collected mid-way
        task.add_done_callback(self._closing.discard)

    async def read_session(self) -> AsyncGenerator[AsyncSession, None]:
        """A session for a request that only reads: every statement autocommits.

        For single-statement reads (or reads that need no consistent snapshot); anything that
        writes, or reads twice and must see one state, uses ``session``.
        """
        async with self.admitted(), self.read_sessions() as session:
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for a request that only reads: every statement autocommits.

        For a hot read that returns rows, not objects: without the ORM's session, identity map
        and object loading a one-row read costs about half the CPU (issue 16). Errors are
        SQLAlchemy's as with a session, so the handlers answer them the same way. Opened in the
        route (``async with stack.database_of(request).reading() as connection``) it also spares
        FastAPI the dependency, its exit stack and shielded cancel scope: ~10 % of a one-SELECT
        request.
        """
        async with self.admitted(), self.read_engine.connect() as connection:
            yield connection

    async def read_connection(self) -> AsyncGenerator[AsyncConnection, None]:
        """``reading`` as a FastAPI dependency with ``yield`` (``stack.ReadConnectionDep``)."""
        async with self.reading() as connection:
            yield connection

    async def fetch_row(
        self, statement: Select[Any], params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The first row of a read-only ``statement`` (None if there is none), straight from
        the driver: the hot read of a tier.

        SQLAlchemy compiles the statement once; it then runs on the pooled connection's own
        asyncpg connection (prepared and cached by asyncpg, autocommit), without SQLAlchemy's
        connection, execution context and result objects, which were a third of the CPU of a
        one-SELECT request (issue 16). Same pool and admission order as ``reading``, and the
        same errors: a driver error becomes SQLAlchemy's ``DBAPIError`` carrying its SQLSTATE,
        and a lost connection is discarded with every connection opened before it. Only for
        statements whose parameters and columns asyncpg converts itself (text, numbers,
        timestamps, UUIDs) and whose SQL does not depend on its values; others are refused.
        Build the statement once (a module constant): it is compiled on first use and kept.
        """
        compiled, sql, names = self._compiled(statement)
        # Every parameter in order: the caller's, and those the statement holds itself
        # (literals, LIMIT values, bindparam defaults).
        values = compiled.construct_params(params)
        arguments = [values[name] for name in names]
        async with self.admitted():
            pooled = await greenlet_spawn(self.engine.sync_engine.raw_connection)
            driver: Any = pooled.driver_connection  # asyncpg's Connection
            try:
                row = await driver.fetchrow(sql, *arguments)
            except BaseException as exc:
                lost = _lost(exc) or bool(driver.is_closed())
                await greenlet_spawn(self._after_failure, pooled, exc, lost)
                if isinstance(exc, Exception):
                    # A driver in a state it cannot go on from (the server ended the session
                    # while the connection sat in the pool) is a lost connection too.
                    invalidated = lost or isinstance(exc, asyncpg.InternalClientError)
                    raise DBAPIError(
                        sql, None, exc, hide_parameters=True, connection_invalidated=invalidated
                    ) from exc
                raise
            await greenlet_spawn(pooled.close)
        return None if row is None else dict(row.items())

    def _compiled(self, statement: Select[Any]) -> tuple[Any, str, list[str]]:
        cached = self._compiled_statements.get(statement)
        if cached is None:
            dialect = self.engine.dialect
            compiled = statement.compile(dialect=dialect)
            processed = [
                column.name
                for column in statement.selected_columns
                if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None
            ]
            # (bind processors have no public accessor)
            if compiled._bind_processors or processed:
                raise ValueError(
                    "fetch_row runs statements asyncpg converts by itself; use reading() for "
                    f"one with SQLAlchemy type processing ({', '.join(processed) or 'parameters'})"
                )
            if compiled.post_compile_params or compiled.literal_execute_params:
                raise ValueError(
                    "fetch_row runs statements compiled once; use reading() for one whose SQL "
                    "depends on its values (expanding IN, literal_execute)"
                )
            cached = (compiled, compiled.string, list(compiled.positiontup or []))
            # Statements are meant to be built once (module constants): a caller building one
            # per call would compile every time, and the cache must not grow with it.
            if len(self._compiled_statements) >= _COMPILED_STATEMENTS_KEPT:
                self._compiled_statements.clear()
            self._compiled_statements[statement] = cached
        return cached

    def _after_failure(self, pooled: Any, exc: BaseException, lost: bool) -> None:
        # Runs in SQLAlchemy's greenlet, as its own error handling does. The server refused the
        # statement (a timeout, bad data): the connection is sound and goes back. The server or
        # the network went away: every pooled connection opened before now is replaced on its
        # next checkout (Pool._invalidate, what SQLAlchemy itself does on a disconnect; it has
        # no public name). Anything else, a cancellation mid-statement included (asyncpg has
        # asked the server to cancel it): the connection's state is unknown, so it is dropped.
        if isinstance(exc, asyncpg.PostgresError) and not lost:
            pooled.close()
        elif lost:
            self.engine.sync_engine.pool._invalidate(pooled, exc)  # drops this one too
        else:
            pooled.invalidate(exc if isinstance(exc, Exception) else None)

    async def dispose(self) -> None:
        await self.engine.dispose()


__all__ = ["Database", "DatabaseSettings"]
