"""KeepAliveTransport against real servers on loopback: uvicorn serving FastAPI (what every tier
runs), and raw asyncio servers for the answers a well-behaved server never gives."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from unifyops_core.client import POOL_LIMITS, ServiceClient
from unifyops_core.keepalive_transport import KeepAliveTransport
from unifyops_core.testing_db import serve_on_loopback

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _echo_app(peers: list[int]) -> FastAPI:
    app = FastAPI()

    @app.api_route("/echo/{name}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
    async def echo(name: str, request: Request) -> Response:
        assert request.client is not None
        peers.append(request.client.port)  # one client port per TCP connection
        body = await request.body()
        answer = {
            "method": request.method,
            "name": name,
            "query": dict(request.query_params),
            "body": body.decode(),
            "x_test": request.headers.get("x-test"),
        }
        if name == "slow":
            await asyncio.sleep(0.2)
        status = 201 if request.method == "POST" else 200
        return Response(json.dumps(answer), status, {"X-Answer": name}, "application/json")

    return app


@contextlib.asynccontextmanager
async def _raw_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _client(url: str, limits: httpx.Limits = POOL_LIMITS, **timeouts: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        transport=KeepAliveTransport(limits),
        timeout=httpx.Timeout(5.0, **timeouts),
    )


async def test_requests_and_answers_carry_what_httpx_gives_and_takes() -> None:
    peers: list[int] = []
    with serve_on_loopback(_echo_app(peers)) as url:
        async with _client(url) as client:
            got = await client.get(
                "/echo/a", params={"q": "x y", "n": "1"}, headers={"X-Test": "t"}
            )
            assert got.status_code == 200
            assert got.reason_phrase == "OK"
            assert got.http_version == "HTTP/1.1"
            assert got.headers["x-answer"] == "a"
            assert got.json() == {
                "method": "GET",
                "name": "a",
                "query": {"q": "x y", "n": "1"},
                "body": "",
                "x_test": "t",
            }
            posted = await client.post("/echo/b", json={"k": "v"})
            assert posted.status_code == 201
            assert json.loads(posted.json()["body"]) == {"k": "v"}
            put = await client.put("/echo/c", content=b"raw bytes")
            assert put.json()["body"] == "raw bytes"
            # HEAD goes through httpx's own transport: an answer without a body.
            head = await client.head("/echo/d")
            assert head.status_code == 200
            assert head.content == b""
    # Every call but HEAD on one kept-alive connection.
    assert len(set(peers[:3])) == 1


async def test_a_burst_leaves_its_connections_pooled_for_the_next() -> None:
    peers: list[int] = []
    transport = KeepAliveTransport(POOL_LIMITS)
    with serve_on_loopback(_echo_app(peers)) as url:
        async with httpx.AsyncClient(base_url=url, transport=transport) as client:
            await asyncio.gather(*(client.get("/echo/slow") for _ in range(40)))
            assert len(set(peers)) == 40  # the burst really was concurrent
            (pool,) = transport.pools.values()
            assert (len(pool.idle), pool.open) == (40, 40)
            peers.clear()
            await asyncio.gather(*(client.get("/echo/slow") for _ in range(40)))
            assert len(set(peers)) == 40
            assert pool.open == 40  # the second burst opened no connection


async def test_at_the_connection_limit_requests_wait_their_turn_or_time_out() -> None:
    peers: list[int] = []
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    transport = KeepAliveTransport(limits)
    with serve_on_loopback(_echo_app(peers)) as url:
        async with httpx.AsyncClient(base_url=url, transport=transport) as client:
            answers = await asyncio.gather(*(client.get("/echo/slow") for _ in range(6)))
            assert [a.status_code for a in answers] == [200] * 6
            assert len(set(peers)) == 2  # never more than the limit
            first = asyncio.ensure_future(client.get("/echo/slow"))
            second = asyncio.ensure_future(client.get("/echo/slow"))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await client.get("/echo/slow", timeout=httpx.Timeout(5.0, pool=0.05))
            assert [(await first).status_code, (await second).status_code] == [200, 200]
            # The request that gave up holds no place: the next ones still get both.
            await asyncio.gather(*(client.get("/echo/a") for _ in range(4)))
            (pool,) = transport.pools.values()
            assert pool.open == 2


async def test_the_read_timeout_is_the_longest_silence_not_the_whole_answer() -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if b"/silent" in head:
            await asyncio.sleep(5)
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n")
        for byte in b"abcdef":  # 0.6 s in all, never silent for 0.3 s
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))
        await writer.drain()
        writer.close()

    async with _raw_server(dribble) as url, _client(url, read=0.3) as client:
        answer = await client.get("/dribble")
        assert answer.content == b"abcdef"
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/silent")


async def test_servers_that_close_early_give_protocol_errors_not_hangs() -> None:
    async def misbehave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if b"/half" in head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        elif b"/garbage" in head:
            writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    async with _raw_server(misbehave) as url, _client(url) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.get("/nothing")
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await client.get("/half")
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await client.get("/garbage")


async def test_unreachable_targets_raise_connect_errors() -> None:
    async with _raw_server(lambda r, w: asyncio.sleep(0)) as url:
        pass  # the port is free again: nothing listens
    async with _client(url) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/x")


async def test_answers_delimited_by_chunks_by_close_and_compressed() -> None:
    async def varied(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            if b"/chunked" in head:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
                )
            elif b"/gzip" in head:
                body = gzip.compress(b'{"packed": true}')
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            else:  # no length: the body ends with the connection
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                await writer.drain()
                writer.close()
                return
            await writer.drain()

    async with _raw_server(varied) as url, _client(url) as client:
        assert (await client.get("/chunked")).content == b"abcdefg"
        assert (await client.get("/gzip")).json() == {"packed": True}
        assert (await client.get("/close")).content == b"until the end"


async def test_connections_the_server_closed_or_that_idled_too_long_are_not_reused() -> None:
    connections: list[str] = []

    async def close_after_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append("new")
        head = await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if b"/keep" in head:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:  # keep answering on this connection
                    await _read_head(reader)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
        writer.close()  # as a server does at its keep-alive timeout

    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=0.2)
    transport = KeepAliveTransport(limits)
    async with (
        _raw_server(close_after_one) as url,
        httpx.AsyncClient(base_url=url, transport=transport) as client,
    ):
        await client.get("/close")
        await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        (pool,) = transport.pools.values()
        assert (pool.idle, pool.open) == ([], 0)
        await client.get("/keep")
        await client.get("/keep")
        assert connections == ["new", "new"]  # the second /keep reused the connection
        await asyncio.sleep(0.3)  # past keepalive_expiry
        await client.get("/keep")
        assert connections == ["new", "new", "new"]
        assert pool.open == 1


async def test_a_repeatable_request_meeting_a_server_side_close_is_sent_again_once() -> None:
    # A server that closes a kept-alive connection right after its answer without saying so:
    # the next request is written before the close arrives, as at a server's idle timeout.
    answered: list[bytes] = []

    async def one_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        answered.append(head.split(b" ")[0])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with _raw_server(one_and_close) as url, _client(url) as client:
        for method in ("GET", "PUT", "DELETE", "GET"):
            assert (await client.request(method, "/x")).content == b"ok"
        # A write is not repeated by the transport: whether the first one arrived is unknown.
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.post("/x")
    assert answered == [b"GET", b"PUT", b"DELETE", b"GET"]


async def test_a_cancelled_call_drops_its_connection_and_frees_its_place() -> None:
    peers: list[int] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    transport = KeepAliveTransport(limits)
    with serve_on_loopback(_echo_app(peers)) as url:
        async with httpx.AsyncClient(base_url=url, transport=transport) as client:
            call = asyncio.ensure_future(client.get("/echo/slow"))
            await asyncio.sleep(0.05)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            (pool,) = transport.pools.values()
            assert pool.open == 0
            # The late answer to the cancelled call is never read as this one's.
            assert (await client.get("/echo/next")).json()["name"] == "next"
            assert len(set(peers)) == 2


async def test_a_header_that_would_smuggle_another_is_refused_before_sending() -> None:
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.close()

    async with _raw_server(record) as url, _client(url) as client:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get("/x", headers={"X-Request-ID": "a\r\nX-Admin: yes"})
        await asyncio.sleep(0.05)
    assert received == []


async def test_service_client_calls_through_it_and_keeps_its_error_shape() -> None:
    peers: list[int] = []
    app = _echo_app(peers)

    @app.get("/broken")
    async def broken() -> Response:
        return Response(
            json.dumps(
                {
                    "status_code": 404,
                    "message": "no such thing",
                    "error_id": "e-1",
                    "error_type": "not_found",
                    "timestamp": "2026-12-07T00:00:00+00:00",
                }
            ),
            404,
            media_type="application/json",
        )

    with serve_on_loopback(app) as url:
        async with ServiceClient(url, service="echo", max_retries=0) as client:
            assert isinstance(client._http._transport, KeepAliveTransport)
            assert (await client.get("/echo/a")).json()["name"] == "a"
            with pytest.raises(Exception, match="no such thing") as raised:
                await client.get("/broken")
            assert getattr(raised.value, "error_id", None) == "e-1"


def test_on_uvloop_as_the_tiers_run_it() -> None:
    import uvloop

    peers: list[int] = []

    async def burst_twice(url: str) -> tuple[int, int]:
        transport = KeepAliveTransport(POOL_LIMITS)
        async with httpx.AsyncClient(base_url=url, transport=transport) as client:
            for _ in range(2):
                answers = await asyncio.gather(*(client.get("/echo/slow") for _ in range(8)))
                assert [a.json()["name"] for a in answers] == ["slow"] * 8
            (pool,) = transport.pools.values()
            return pool.open, len(set(peers))

    with (
        serve_on_loopback(_echo_app(peers)) as url,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        assert runner.run(burst_twice(url)) == (8, 8)
