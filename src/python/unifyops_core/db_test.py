"""The engine every service gets, against a real PostgreSQL (UO_TEST_POSTGRES_DSN)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from unifyops_core.db import Database, DatabaseSettings
from unifyops_core.testing_db import admin_dsn, fresh_database

NOW_TWICE = "SELECT now()"


async def _now_twice(sessions: async_sessionmaker[AsyncSession]) -> tuple[object, object]:
    async with sessions() as session:
        first = await session.scalar(text(NOW_TWICE))
        await asyncio.sleep(0.01)
        second = await session.scalar(text(NOW_TWICE))
        return first, second


async def test_a_read_session_runs_each_statement_outside_a_transaction() -> None:
    # now() is the start of the transaction: equal twice inside one, different in autocommit.
    async with fresh_database() as settings:
        database = Database(settings)
        try:
            first, second = await _now_twice(database.read_sessions)
            assert first != second
            first, second = await _now_twice(database.sessions)
            assert first == second
        finally:
            await database.dispose()


async def test_a_read_connection_runs_each_statement_outside_a_transaction() -> None:
    async with fresh_database() as settings:
        database = Database(settings)
        try:
            async for connection in database.read_connection():
                first = await connection.scalar(text(NOW_TWICE))
                await asyncio.sleep(0.01)
                second = await connection.scalar(text(NOW_TWICE))
                assert first != second
            async with database.reading() as connection:
                first = await connection.scalar(text(NOW_TWICE))
                await asyncio.sleep(0.01)
                second = await connection.scalar(text(NOW_TWICE))
                assert first != second
        finally:
            await database.dispose()


async def test_reading_holds_an_admission_place_until_it_is_left() -> None:
    async with fresh_database() as settings:
        database = Database(settings.model_copy(update={"pool_size": 1, "max_overflow": 0}))

        async def read_one() -> int:
            async with database.reading() as connection:
                return int(await connection.scalar(text("SELECT 1")) or 0)

        try:
            async with database.reading() as connection:
                await connection.execute(text("SELECT 1"))
                waiting = asyncio.create_task(read_one())
                await asyncio.sleep(0.05)
                assert not waiting.done()  # the one place is taken
            assert await waiting == 1  # and given on when the route leaves it
        finally:
            await database.dispose()


async def test_the_pool_fits_a_tier_and_does_not_ping_on_checkout() -> None:
    database = Database(DatabaseSettings())
    try:
        assert database.engine.pool.size() == 20  # type: ignore[attr-defined]
        # No overflow: an overflow connection is closed when returned, so sustained load above
        # the pool size would open and close connections all the time.
        assert database.engine.pool._max_overflow == 0  # type: ignore[attr-defined]
        assert database.engine.pool._pre_ping is False
        assert database.engine.pool._recycle == 1800
    finally:
        await database.dispose()


async def test_requests_waiting_for_a_connection_are_served_in_arrival_order() -> None:
    # 32 clients in a closed loop on 2 connections. Handed out first come, first served, a
    # request waits while at most the 31 other clients' requests get a connection; SQLAlchemy's
    # async pool lets a newcomer take a connection just returned ahead of the waiters, and a
    # waiter that lost it queues again at the back (58 here; under load a tail of most of a
    # second).
    clients, requests_each = 32, 40
    async with fresh_database() as settings:
        database = Database(settings.model_copy(update={"pool_size": 2, "max_overflow": 0}))
        handed_out = 0
        most_overtaken = 0

        async def client() -> None:
            nonlocal handed_out, most_overtaken
            for _ in range(requests_each):
                asked_at = handed_out
                async for connection in database.read_connection():
                    most_overtaken = max(most_overtaken, handed_out - asked_at)
                    handed_out += 1
                    await connection.execute(text("SELECT 1"))

        try:
            await asyncio.gather(*(client() for _ in range(clients)))
        finally:
            await database.dispose()
        assert handed_out == clients * requests_each
        assert most_overtaken <= clients - 1


async def test_waiting_longer_than_the_pool_timeout_fails_as_the_pool_would() -> None:
    async with fresh_database() as settings:
        database = Database(
            settings.model_copy(
                update={"pool_size": 1, "max_overflow": 0, "pool_timeout_seconds": 0.2}
            )
        )
        try:
            async for connection in database.read_connection():
                await connection.execute(text("SELECT 1"))
                with pytest.raises(SQLAlchemyTimeoutError, match=r"within 0\.2 s"):
                    async for _ in database.read_connection():
                        pass
        finally:
            await database.dispose()


async def _terminate_backends(database_name: str) -> int:
    admin = await asyncpg.connect(admin_dsn())
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database_name,
        )
        return len(rows)
    finally:
        await admin.close()


async def _select_one(database: Database, hold_seconds: float = 0.0) -> int:
    async with database.read_sessions() as session:
        query = text("SELECT 1 FROM pg_sleep(:hold)")
        return int(await session.scalar(query, {"hold": hold_seconds}) or 0)


async def test_after_the_server_drops_every_connection_one_request_fails_then_all_succeed() -> None:
    async with fresh_database() as settings:
        database = Database(settings.model_copy(update={"pool_size": 5, "max_overflow": 0}))
        try:
            # Fill the pool with five live connections (held at once, so five are opened).
            held = [_select_one(database, hold_seconds=0.3) for _ in range(5)]
            assert await asyncio.gather(*held) == [1] * 5
            assert await _terminate_backends(settings.name) == 5
            # Without pre-ping the first use of a dead connection fails ...
            with pytest.raises(DBAPIError) as failure:
                await _select_one(database)
            assert failure.value.connection_invalidated
            # ... and invalidates the rest of the pool: no request fails for the other four.
            assert await asyncio.gather(*(_select_one(database) for _ in range(5))) == [1] * 5
        finally:
            await database.dispose()
