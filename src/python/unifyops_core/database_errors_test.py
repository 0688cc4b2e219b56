"""What a service answers and logs when PostgreSQL refuses a value (a real server, a real app)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from unifyops_core.app import create_service_app
from unifyops_core.db import Database
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing import capture_logs
from unifyops_core.testing_db import fresh_database

# Values a handler might bind that the database refuses; each carries a marker that must not leak.
SECRET = "hunter2-marker"
REFUSED = {
    "int32 overflow": ("SELECT CAST(:v AS integer)", 2**31),
    "int64 overflow": ("SELECT 1 OFFSET :v", 2**70),
    "NUL in text": ("SELECT CAST(:v AS text)", f"{SECRET}\x00"),
    "unpaired surrogate": ("SELECT CAST(:v AS text)", f"{SECRET}\ud800"),
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with fresh_database() as settings:
        database = Database(settings)
        app = create_service_app(ServiceSettings(service_name="demo-service"), version="1")

        @app.get("/refused/{case}")
        async def refused(case: str) -> None:
            statement, value = REFUSED[case]
            async with database.engine.connect() as connection:
                await connection.execute(text(statement), {"v": value})

        @app.get("/broken")
        async def broken() -> None:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELEC :v"), {"v": SECRET})

        @app.get("/too-slow/{setting}")
        async def too_slow(setting: str) -> None:
            # A server-side timeout fires: statement_timeout on a sleep, lock_timeout on a lock
            # another session holds.
            async with database.engine.connect() as connection:
                if setting == "statement_timeout":
                    await connection.execute(text("SET statement_timeout = 50"))
                    await connection.execute(text("SELECT pg_sleep(2)"))
                async with database.engine.connect() as holder:
                    await holder.execute(text("CREATE TABLE IF NOT EXISTS held (id int)"))
                    await holder.commit()
                    await holder.execute(text("LOCK TABLE held IN ACCESS EXCLUSIVE MODE"))
                    await connection.execute(text("SET lock_timeout = 50"))
                    await connection.execute(text("SELECT * FROM held"))

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
        await database.dispose()


@pytest.mark.parametrize("case", REFUSED)
async def test_a_value_the_database_refuses_is_a_quiet_422(
    http: httpx.AsyncClient, case: str
) -> None:
    with capture_logs() as logs:
        response = await http.get(f"/refused/{case}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["error_type"], response.headers["X-Error-ID"]) == (
        "validation_error",
        body["error_id"],
    )
    log = logs.stream.getvalue()
    assert "Traceback" not in log
    for refused_value in (SECRET, "2147483648", "1180591620717411303424"):
        assert refused_value not in log
    assert logs.find(sqlstate="22021" if case == "NUL in text" else "22000")


async def test_an_unexpected_database_error_logs_frames_but_no_bound_values(
    http: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        response = await http.get("/broken")
    assert response.status_code == 500
    (record,) = logs.find(error_id=response.json()["error_id"])
    assert "Traceback" not in record["exception"]["message"]
    assert "broken" in record["exception"]["traceback"]  # the frames are still there
    assert SECRET not in logs.stream.getvalue()
    assert SECRET not in response.text


@pytest.mark.parametrize("setting", ["statement_timeout", "lock_timeout"])
async def test_a_database_that_does_not_answer_in_time_is_a_503_not_a_500(
    http: httpx.AsyncClient, setting: str
) -> None:
    with capture_logs() as logs:
        response = await http.get(f"/too-slow/{setting}")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error_type"] == "dependency_unavailable"
    (record,) = logs.find(error_id=body["error_id"])
    assert record["extra"]["error_type"] == "dependency_unavailable"  # the cause is logged once
    assert "Traceback" not in response.text
