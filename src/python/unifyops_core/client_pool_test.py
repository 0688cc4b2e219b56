"""ServiceClient's connection pool, against a real uvicorn server on loopback."""

import asyncio

import httpx
from fastapi import FastAPI, Request

from unifyops_core.client import POOL_LIMITS, ServiceClient
from unifyops_core.keepalive_transport import KeepAliveTransport
from unifyops_core.service_cli import server_config
from unifyops_core.testing import capture_logs
from unifyops_core.testing_db import serve_on_loopback

IN_FLIGHT = 64


def _peer_recording_app(peers: list[int]) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow(request: Request) -> dict[str, bool]:
        assert request.client is not None
        peers.append(request.client.port)  # one client port per TCP connection
        await asyncio.sleep(0.2)  # hold the connection so the whole burst is in flight at once
        return {"ok": True}

    return app


def _pooled(client: ServiceClient) -> int:
    """Connections the client holds open, idle between bursts."""
    transport = client._http._transport
    assert isinstance(transport, KeepAliveTransport)
    return sum(len(pool.idle) for pool in transport.pools.values())


async def test_a_burst_leaves_its_connections_pooled_for_the_next() -> None:
    peers: list[int] = []
    with serve_on_loopback(_peer_recording_app(peers)) as url:
        async with ServiceClient(url, service="peer", max_retries=0) as client:
            await asyncio.gather(*(client.get("/slow") for _ in range(IN_FLIGHT)))
            assert len(set(peers)) == IN_FLIGHT  # the burst really was concurrent
            # httpx's default pool would close all but 20 of them here, and a second burst
            # would open 44 new TCP connections.
            assert _pooled(client) == IN_FLIGHT
            peers.clear()
            await asyncio.gather(*(client.get("/slow") for _ in range(IN_FLIGHT)))
            assert _pooled(client) == IN_FLIGHT  # the second burst reused them all


def test_idle_connections_are_dropped_before_the_server_closes_them() -> None:
    # Otherwise a request can be written to a connection the server is just closing.
    server_idle_timeout = server_config(FastAPI(), host="127.0.0.1", port=1).timeout_keep_alive
    assert POOL_LIMITS.keepalive_expiry is not None
    assert POOL_LIMITS.keepalive_expiry < server_idle_timeout
    assert (POOL_LIMITS.max_keepalive_connections or 0) >= IN_FLIGHT


async def test_the_call_line_is_debug_so_info_logs_one_line_per_request() -> None:
    app = FastAPI()

    @app.get("/x")
    async def x() -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    for level, expected in (("INFO", 0), ("DEBUG", 1)):
        async with ServiceClient("http://svc", service="svc", transport=transport) as client:
            with capture_logs(level=level) as logs:
                await client.get("/x")
        assert len(logs.find(target="svc")) == expected
