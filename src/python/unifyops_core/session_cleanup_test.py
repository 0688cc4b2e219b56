"""What becomes of a request's database session when its route fails: a read's is closed by the
request itself; a write's (a transaction to roll back) is closed behind the answer by a task that
keeps the request's context, so a connection gone silent cannot hold the answer, and a close that
fails is logged with the request's id. Left to the garbage collector, as before core 0.1.15, the
close ran in a stray task and a failure was asyncio's "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from loguru import logger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from unifyops_core.app import create_service_app
from unifyops_core.context import current_request_id
from unifyops_core.database_loss_test import CuttableProxy
from unifyops_core.db import Database
from unifyops_core.exceptions import RecordNotFoundError
from unifyops_core.settings import ServiceSettings
from unifyops_core.stack import ReadConnectionDep, ReadSessionDep, SessionDep
from unifyops_core.testing_db import fresh_database

Seen = dict[str, list[Any]]


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Seen, Any]]:
    """An app with a failing route per database dependency, behind a proxy that can go silent;
    what was seen: the route's task, the tasks that closed a session, asyncio's unretrieved
    errors and the log lines (with the request id current when each was written)."""
    seen: Seen = {"route": [], "closed": [], "unretrieved": [], "logged": []}
    for kind in (AsyncSession, AsyncConnection):
        real_exit = kind.__aexit__  # closes (in a task SQLAlchemy shields from cancellation)

        async def leaving(self: Any, *exc: Any, real_exit: Any = real_exit) -> None:
            seen["closed"].append(asyncio.current_task())
            await real_exit(self, *exc)

        monkeypatch.setattr(kind, "__aexit__", leaving)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: seen["unretrieved"].append(context))
    async with fresh_database() as real:
        proxy = CuttableProxy(real.host, real.port)
        await proxy.start()
        database = Database(real.model_copy(update={"port": proxy.port}))
        app = create_service_app(
            ServiceSettings(service_name="demo-service", request_budget_ms=3000), version="1"
        )
        app.state.db = database
        sink = logger.add(  # after the app: it sets logging up afresh
            lambda line: seen["logged"].append((line.record["message"], current_request_id())),
            level="WARNING",
        )

        async def failing(work: Any, silence: bool = False) -> None:
            seen["route"].append(asyncio.current_task())
            await work.execute(text("SELECT 1"))  # a write session: a transaction is open
            proxy.frozen = silence  # the network goes silent (no RST, no FIN)
            raise RecordNotFoundError("nothing here")

        @app.get("/session")
        async def with_session(session: SessionDep, silence: bool = False) -> None:
            await failing(session, silence)

        @app.get("/read-session")
        async def with_read_session(session: ReadSessionDep) -> None:
            await failing(session)

        @app.get("/read-connection")
        async def with_read_connection(connection: ReadConnectionDep) -> None:
            await failing(connection)

        yield app, seen, (proxy, database)
        await proxy.cut()
        await database.dispose()
        logger.remove(sink)
    loop.set_exception_handler(None)


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


@pytest.mark.parametrize("path", ["/read-session", "/read-connection"])
async def test_a_failing_read_closes_its_session_in_its_own_request(
    served: tuple[Any, Seen, Any], path: str
) -> None:
    app, seen, _ = served
    async with _client(app) as http:
        assert (await http.get(path)).status_code == 404
        for _ in range(5):
            await asyncio.sleep(0)  # a close left to the garbage collector would run by now
    (request_task,) = seen["route"]
    assert seen["closed"], "the session was never closed"
    assert all(task is request_task for task in seen["closed"]), "closed in a stray task"
    assert seen["unretrieved"] == []


async def test_a_failing_write_is_answered_at_once_and_its_session_closed_behind_it(
    served: tuple[Any, Seen, Any],
) -> None:
    app, seen, (_, database) = served
    async with _client(app) as http:
        response = await http.get("/session")
        assert response.status_code == 404
        for _ in range(20):
            await asyncio.sleep(0.01)
    assert len(seen["closed"]) == 1
    assert seen["closed"][0] is not seen["route"][0]  # behind the answer, in a task of its own
    assert seen["unretrieved"] == []
    assert seen["logged"] == []  # it closed cleanly
    places = database.settings.pool_size + database.settings.max_overflow
    assert database._admission_here()._value == places  # the place came back


async def test_a_write_whose_connection_went_silent_is_answered_within_its_deadline(
    served: tuple[Any, Seen, Any],
) -> None:
    # Closing waits for its ROLLBACK, even through the deadline's cancellation: inline, the 404
    # waited for the kernel to give the connection up (~15 min). Found in review.
    app, seen, (proxy, _) = served
    async with _client(app) as http:
        started = time.monotonic()
        response = await http.get("/session", params={"silence": "true"})
        answered = time.monotonic() - started
        await proxy.cut()  # the connection is lost for good: the close behind it fails
        for _ in range(100):
            if seen["logged"]:
                break
            await asyncio.sleep(0.05)
    assert response.status_code == 404
    assert answered < 2, answered
    (line,) = seen["logged"]
    assert line == (
        "the failed request's database session did not close cleanly; its connection is discarded",
        response.headers["X-Request-ID"],
    )
    assert seen["unretrieved"] == []
