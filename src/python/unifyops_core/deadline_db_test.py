"""A deadline reaches PostgreSQL: a statement stuck behind a lock is cancelled on the server when
the request's budget is spent, its connection goes back to the pool, and the tier serves again as
soon as the lock is gone. Real PostgreSQL, a real lock held by another session."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from unifyops_core import deadline
from unifyops_core.app import create_service_app
from unifyops_core.db import Database
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing_db import fresh_database

Setup = tuple[httpx.AsyncClient, Database]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async with fresh_database() as settings:
        # statement_timeout (15 s by default) would be the only bound without the deadline.
        database = Database(settings.model_copy(update={"statement_timeout_ms": 15_000}))
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE items (id int PRIMARY KEY)"))
        app = create_service_app(
            ServiceSettings(service_name="demo-service", request_budget_ms=10_000), version="1"
        )

        @app.get("/items")
        async def items() -> dict[str, Any]:
            async for session in database.session():
                return {"count": await session.scalar(text("SELECT count(*) FROM items"))}
            raise AssertionError("unreachable")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http, database
        await database.dispose()


async def _statements_waiting_on_items(database: Database) -> int:
    async with database.engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE 'SELECT count(*) FROM items%' AND state = 'active'"
            )
        )
    return int(waiting or 0)


async def test_a_statement_behind_a_lock_is_cancelled_when_the_deadline_passes(
    setup: Setup,
) -> None:
    http, database = setup
    locker = await database.engine.connect()
    transaction = await locker.begin()
    await locker.execute(text("LOCK TABLE items IN ACCESS EXCLUSIVE MODE"))
    try:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(http.get("/items", headers={deadline.DEADLINE_HEADER: "500"}) for _ in range(5))
        )
        elapsed = time.monotonic() - started
        for response in responses:
            assert response.status_code == 504, response.text
            assert response.json()["error_type"] == "deadline_exceeded"
        assert elapsed < 2.0, elapsed
        # The server-side statements were cancelled, not left waiting for the lock, and their
        # connections are back in the pool (only the locker's is out).
        for _ in range(20):
            if await _statements_waiting_on_items(database) == 0:
                break
            await asyncio.sleep(0.1)
        assert await _statements_waiting_on_items(database) == 0
        assert database.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    finally:
        await transaction.rollback()
        await locker.close()
    served = await http.get("/items", headers={deadline.DEADLINE_HEADER: "500"})
    assert served.status_code == 200
    assert served.json() == {"count": 0}
