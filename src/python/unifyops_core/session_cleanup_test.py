"""A request's database session is closed by the request itself, also when its route fails:
the dependencies (stack.SessionDep and the others) close the generator they iterate. Left to the
garbage collector, the close ran later in a task of its own, without the request's context, and
a close that failed there (the connection lost meanwhile) was logged as asyncio's "Task
exception was never retrieved" instead of being part of the request's answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from unifyops_core.app import create_service_app
from unifyops_core.db import Database
from unifyops_core.exceptions import RecordNotFoundError
from unifyops_core.settings import ServiceSettings
from unifyops_core.stack import ReadConnectionDep, ReadSessionDep, SessionDep
from unifyops_core.testing_db import fresh_database

Seen = dict[str, list[Any]]


@pytest.fixture
async def app_and_seen(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Seen]]:
    seen: Seen = {"route": [], "closed": [], "unretrieved": []}
    for kind in (AsyncSession, AsyncConnection):
        real_exit = kind.__aexit__  # closes (in a task SQLAlchemy shields from cancellation)

        async def leaving(self: Any, *exc: Any, real_exit: Any = real_exit) -> None:
            seen["closed"].append(asyncio.current_task())
            await real_exit(self, *exc)

        monkeypatch.setattr(kind, "__aexit__", leaving)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: seen["unretrieved"].append(context))
    async with fresh_database() as settings:
        database = Database(settings)
        app = create_service_app(ServiceSettings(service_name="demo-service"), version="1")
        app.state.db = database

        async def failing(work: Any) -> None:
            seen["route"].append(asyncio.current_task())
            await work.execute(text("SELECT 1"))
            raise RecordNotFoundError("nothing here")

        @app.get("/session")
        async def with_session(session: SessionDep) -> None:
            await failing(session)

        @app.get("/read-session")
        async def with_read_session(session: ReadSessionDep) -> None:
            await failing(session)

        @app.get("/read-connection")
        async def with_read_connection(connection: ReadConnectionDep) -> None:
            await failing(connection)

        yield app, seen
        await database.dispose()
    loop.set_exception_handler(None)


@pytest.mark.parametrize("path", ["/session", "/read-session", "/read-connection"])
async def test_a_failing_route_closes_its_session_in_its_own_request(
    app_and_seen: tuple[Any, Seen], path: str
) -> None:
    app, seen = app_and_seen
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(path)
        assert response.status_code == 404
        for _ in range(5):
            await asyncio.sleep(0)  # a close left to the garbage collector would run by now
    (request_task,) = seen["route"]
    assert seen["closed"], "the session was never closed"
    assert all(task is request_task for task in seen["closed"]), (
        "closed in a task of its own, not by the request"
    )
    assert seen["unretrieved"] == []
