"""KeepAliveTransport against real servers on loopback: uvicorn serving FastAPI (what every tier
runs), and raw asyncio servers for the answers a well-behaved server never gives."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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


_LATE_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"


@pytest.mark.parametrize("last_word", [b"", _LATE_408], ids=["close", "408"])
async def test_an_idle_connection_ended_unnoticed_is_not_reused(last_word: bytes) -> None:
    # The server (in a thread of its own) ends an idle connection, closing it or saying 408
    # first as at its idle timeout, while this loop is busy and has not seen it.
    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                seen.append(head.split(b" ")[1])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                time.sleep(0.05)
                conn.sendall(last_word)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    async with _client(f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/first")).content == b"ok"
        time.sleep(0.2)  # noqa: ASYNC251 - busy on purpose: the end is in the socket, unseen
        # A write must never meet it: sent once, on a new connection.
        assert (await client.post("/second", content=b"x")).content == b"ok"
    server.join(timeout=5)
    listener.close()
    assert seen == [b"/first", b"/second"]


async def test_a_request_the_server_took_and_then_dropped_is_not_sent_again() -> None:
    seen: list[bytes] = []

    async def take_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await _read_head(reader)
            seen.append(head.split(b" ")[1])
            if b"/drop" in head:
                writer.close()  # worked on it, then went away without an answer
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with _raw_server(take_then_drop) as url, _client(url) as client:
        await client.get("/warm")  # the next request goes on a reused connection
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.put("/drop")
    assert seen == [b"/warm", b"/drop"]  # repeating is ServiceClient's call, not the transport's


async def test_interim_answers_are_skipped_and_stray_bytes_end_the_connection() -> None:
    async def early_hints(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            name = head.split(b" ")[1]
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)  # the interim answer in a packet of its own
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(name), name)
            # /extra: a second, unasked-for answer right behind the first
            writer.write(answer + (answer if name == b"/extra" else b""))
            await writer.drain()

    transport = KeepAliveTransport(POOL_LIMITS)
    async with (
        _raw_server(early_hints) as url,
        httpx.AsyncClient(base_url=url, transport=transport) as client,
    ):
        for name in ("/a", "/b"):
            got = await client.get(name)
            assert (got.status_code, got.reason_phrase, got.content) == (200, "OK", name.encode())
            assert "link" not in got.headers
        assert (await client.get("/extra")).content == b"/extra"
        await asyncio.sleep(0.05)
        (pool,) = transport.pools.values()
        assert pool.open == 0  # the connection that spoke out of turn is gone
        assert (await client.get("/c")).content == b"/c"


async def test_a_reset_during_an_answer_without_length_is_an_error_not_a_short_body() -> None:
    async def reset_midway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b'HTTP/1.1 200 OK\r\n\r\n{"items": [1, 2,')
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with _raw_server(reset_midway) as url, _client(url) as client:
        with pytest.raises(httpx.ReadError):
            await client.get("/items")


async def test_waiters_are_served_in_turn_even_when_connections_do_not_survive() -> None:
    # Every answer closes its connection: each place freed must go to the one waiting longest,
    # not to whoever asks next, and a waiter's pool timeout is one deadline.
    async def close_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await asyncio.sleep(0.02)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    limits = httpx.Limits(max_connections=1)
    transport = KeepAliveTransport(limits)
    async with (
        _raw_server(close_each) as url,
        httpx.AsyncClient(base_url=url, transport=transport, timeout=5.0) as client,
    ):
        busy = True

        async def hog() -> int:
            calls = 0
            while busy:
                await client.get("/hog")
                calls += 1
            return calls

        hogging = asyncio.ensure_future(hog())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await client.get("/waiter", timeout=httpx.Timeout(5.0, pool=1.0))
        assert time.monotonic() - started < 0.5  # its turn came after the one call ahead
        busy = False
        assert await hogging >= 1
        (pool,) = transport.pools.values()
        assert (pool.open, len(pool.waiting)) == (0, 0)


async def test_a_waiter_cancelled_as_its_connection_arrives_does_not_send() -> None:
    seen: list[bytes] = []

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            seen.append(head.split(b" ")[1])
            await asyncio.sleep(0.1)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    transport = KeepAliveTransport(httpx.Limits(max_connections=1))
    async with (
        _raw_server(slow) as url,
        httpx.AsyncClient(base_url=url, transport=transport) as client,
    ):
        first = asyncio.ensure_future(client.get("/first"))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(client.post("/second", content=b"x"))
        await asyncio.sleep(0.02)
        (pool,) = transport.pools.values()
        give_back = pool.release

        def release_then_cancel(connection: Any, *, reusable: bool) -> None:
            give_back(connection, reusable=reusable)
            second.cancel()  # as a deadline firing in the same step would

        pool.release = release_then_cancel  # type: ignore[method-assign]
        await first
        pool.release = give_back  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            await second
        assert (await client.get("/third")).content == b"ok"
    assert seen == [b"/first", b"/third"]


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
        with pytest.raises(httpx.LocalProtocolError):
            await client.get("/x", headers={"X-Request-ID": "a\x00b"})
        with pytest.raises(httpx.LocalProtocolError):
            await client.get("/x", headers={"X Forwarded For": "1.2.3.4"})
        with pytest.raises(httpx.LocalProtocolError):
            await client.request("GET /a HTTP/1.1\r\nX-Smuggled: 1\r\n\r\nGET", "/x")
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
