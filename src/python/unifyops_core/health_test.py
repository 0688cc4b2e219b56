import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from unifyops_core.handlers import register_exception_handlers
from unifyops_core.health import HealthRegistry, health_router


class Database:
    def __init__(self) -> None:
        self.up = True
        self.hang = False

    async def ping(self) -> None:
        if self.hang:
            await asyncio.sleep(10)
        if not self.up:
            raise ConnectionError("connection refused to postgresql://app:pw@db/x")


@pytest.fixture
def database() -> Database:
    return Database()


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    registry = HealthRegistry(default_timeout=0.2)
    registry.add("database", database.ping)
    app = FastAPI()
    register_exception_handlers(app)
    app.include_router(health_router(registry))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        yield http


async def test_live_answers_while_dependencies_are_down(
    client: httpx.AsyncClient, database: Database
) -> None:
    database.up = False
    response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_checks_pass(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_not_ready_is_503_uniform_and_names_the_check(
    client: httpx.AsyncClient, database: Database
) -> None:
    database.up = False
    response = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["error_type"] == "dependency_unavailable"
    assert body["details"] == {"checks": {"database": "failed"}}
    assert "pw@" not in response.text


async def test_a_hanging_check_times_out(client: httpx.AsyncClient, database: Database) -> None:
    database.hang = True
    response = await asyncio.wait_for(client.get("/health/ready"), timeout=2)
    assert response.status_code == 503
    assert response.json()["details"] == {"checks": {"database": "timeout"}}
