"""Database.fetch_row, the hot read straight on the driver, against a real PostgreSQL: rows as
SQLAlchemy would give them, SQLAlchemy's errors, the pool kept sound through timeouts,
cancellations and a server that drops the connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Enum, Integer, MetaData, String, Table, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError

from unifyops_core.db import Database
from unifyops_core.testing_db import fresh_database

METADATA = MetaData()
ITEMS = Table(
    "items",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(40)),
    Column("details", JSONB),
    Column("kind", Enum("small", "large", name="item_kind")),
)
BY_ID = select(ITEMS.c.id, ITEMS.c.name, ITEMS.c.details).where(ITEMS.c.id == bindparam("id"))


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    async with fresh_database() as settings:
        database = Database(settings.model_copy(update={"pool_size": 2, "max_overflow": 0}))
        async with database.engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)
            await connection.execute(
                ITEMS.insert().values(id=1, name="one", details={"colour": "red"}, kind="small")
            )
        try:
            yield database
        finally:
            await database.dispose()


async def _active_sleeps(database: Database) -> int:
    async with database.reading() as connection:
        count = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'"
            )
        )
    return int(count or 0)


async def test_a_row_as_sqlalchemy_gives_it_and_none_when_missing(database: Database) -> None:
    async with database.reading() as connection:
        expected = (await connection.execute(BY_ID, {"id": 1})).mappings().one()
    row = await database.fetch_row(BY_ID, {"id": 1})
    assert row == dict(expected)
    assert row is not None
    assert row["details"] == {"colour": "red"}  # JSONB decoded as by SQLAlchemy
    assert await database.fetch_row(BY_ID, {"id": 2}) is None


async def test_values_the_statement_holds_itself_are_sent(database: Database) -> None:
    # A literal, a LIMIT and a bindparam default are parameters the caller does not name.
    statement = (
        select(ITEMS.c.name)
        .where(ITEMS.c.id == bindparam("id"), ITEMS.c.name == "one")
        .where(ITEMS.c.id < bindparam("below", value=5))
        .limit(1)
    )
    assert await database.fetch_row(statement, {"id": 1}) == {"name": "one"}
    assert await database.fetch_row(statement, {"id": 1, "below": 1}) is None


async def test_statements_it_cannot_run_as_compiled_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match=r"use reading\(\) .*\(kind\)"):
        await database.fetch_row(select(ITEMS.c.kind).where(ITEMS.c.id == 1), {})
    expanding = select(ITEMS.c.name).where(ITEMS.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="expanding IN"):
        await database.fetch_row(expanding, {"ids": [1, 2]})


async def test_a_refused_statement_is_sqlalchemys_error_and_keeps_its_connection(
    database: Database,
) -> None:
    # A statement timeout: the server cancels the statement, the connection stays usable.
    impatient = Database(database.settings.model_copy(update={"statement_timeout_ms": 50}))
    try:
        await impatient.fetch_row(BY_ID, {"id": 1})
        pool: Any = impatient.engine.sync_engine.pool
        with pytest.raises(DBAPIError) as caught:
            await impatient.fetch_row(select(func.pg_sleep(bindparam("seconds"))), {"seconds": 1.5})
        assert getattr(caught.value.orig, "sqlstate", None) == "57014"
        assert caught.value.connection_invalidated is False
        assert "1.5" not in str(caught.value)  # bound values never in the message
        assert pool.checkedin() == 1  # given back, not dropped
        assert await impatient.fetch_row(BY_ID, {"id": 1}) is not None
    finally:
        await impatient.dispose()


async def test_a_cancelled_read_stops_on_the_server_and_frees_its_place(
    database: Database,
) -> None:
    slow = select(func.pg_sleep(bindparam("seconds")))
    for _ in range(3):  # more than the pool's two connections: no place is lost
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await database.fetch_row(slow, {"seconds": 30.0})
    for _ in range(50):
        if await _active_sleeps(database) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _active_sleeps(database) == 0
    assert await database.fetch_row(BY_ID, {"id": 1}) is not None


async def test_a_dropped_connection_fails_once_and_the_pool_recovers(database: Database) -> None:
    single = Database(database.settings.model_copy(update={"pool_size": 1}))
    try:
        await single.fetch_row(BY_ID, {"id": 1})
        async with database.reading() as connection:  # another pool: the server drops ours
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        with pytest.raises(DBAPIError) as caught:
            await single.fetch_row(BY_ID, {"id": 1})
        assert caught.value.connection_invalidated is True
        assert await single.fetch_row(BY_ID, {"id": 1}) is not None
    finally:
        await single.dispose()
