"""Losing the database at run time: a real PostgreSQL behind a TCP proxy this test cuts and
restores. The service answers uniform 503s quickly, readiness goes false, and both recover
when the database is back, without restarting anything."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from unifyops_core.app import create_service_app
from unifyops_core.db import Database
from unifyops_core.health import HealthRegistry
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing_db import fresh_database


class CuttableProxy:
    """Forwards TCP from a loopback port to a target; ``cut`` drops every connection and refuses
    new ones (as a stopped database does), ``restore`` listens on the same port again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        # Frozen: bytes are swallowed and new connections never reach the target, as when a
        # network is cut without anyone closing a connection (no RST, no FIN).
        self.frozen = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.frozen:
            self._writers.add(writer)
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.frozen:
                    continue
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


Setup = tuple[httpx.AsyncClient, CuttableProxy, Database]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async with fresh_database() as real:
        proxy = CuttableProxy(real.host, real.port)
        await proxy.start()
        settings = real.model_copy(
            update={"port": proxy.port, "pool_timeout_seconds": 1.0, "statement_timeout_ms": 2000}
        )
        database = Database(settings)
        health = HealthRegistry()
        health.add("database", database.ping)
        app = create_service_app(
            ServiceSettings(service_name="demo-service"), version="1", health=health
        )

        @app.get("/count")
        async def count() -> dict[str, Any]:
            async for session in database.session():
                return {"one": await session.scalar(text("SELECT 1"))}
            raise AssertionError("unreachable")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http, proxy, database
        await database.dispose()
        await proxy.cut()


async def test_a_lost_database_is_a_quick_uniform_503_and_not_ready_then_recovers(
    setup: Setup,
) -> None:
    http, proxy, _ = setup
    assert (await http.get("/count")).json() == {"one": 1}
    assert (await http.get("/health/ready")).status_code == 200

    await proxy.cut()
    for _ in range(5):
        started = time.monotonic()
        response = await http.get("/count")
        assert time.monotonic() - started < 3, "a lost database must not hang a request"
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error_type"] == "dependency_unavailable"
        assert body["error_id"] == response.headers["X-Error-ID"]
        assert "Traceback" not in response.text
        assert "127.0.0.1" not in response.text
    ready = await http.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["details"] == {"checks": {"database": "failed"}}

    await proxy.restore()
    assert (await http.get("/health/ready")).status_code == 200
    assert (await http.get("/count")).json() == {"one": 1}


async def test_an_exhausted_pool_is_a_503_after_the_checkout_timeout_not_a_hang(
    setup: Setup,
) -> None:
    http, _, database = setup
    size = database.settings.pool_size + database.settings.max_overflow
    held = [await database.engine.connect() for _ in range(size)]
    try:
        started = time.monotonic()
        response = await http.get("/count")
        elapsed = time.monotonic() - started
    finally:
        for connection in held:
            await connection.close()
    assert response.status_code == 503
    assert response.json()["error_type"] == "dependency_unavailable"
    assert 0.9 < elapsed < 2.5  # pool_timeout_seconds is 1
    assert (await http.get("/count")).status_code == 200


async def test_a_silently_cut_network_is_a_bounded_503_too(setup: Setup) -> None:
    http, proxy, _ = setup
    assert (await http.get("/count")).status_code == 200
    proxy.frozen = True
    started = time.monotonic()
    response = await http.get("/count")
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.json()["error_type"] == "dependency_unavailable"
    assert elapsed < 5, elapsed
    ready = await http.get("/health/ready")
    assert ready.status_code == 503
    proxy.frozen = False
    await proxy.cut()  # the frozen connections are dead for good; the network comes back
    await proxy.restore()
    assert (await http.get("/count")).status_code == 200
