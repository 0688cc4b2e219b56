"""The edge forwarder against real sockets on loopback: routing, half-close, and the uniform 503."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from uo_edge.proxy import Edge, Route, RouteError, parse_routes


def test_routes_parse_and_bad_ones_are_named() -> None:
    assert parse_routes("8002=auth-api:8002, 8102=user-api:8002") == [
        Route(8002, "auth-api", 8002),
        Route(8102, "user-api", 8002),
    ]
    with pytest.raises(RouteError, match="bad route 'x=y'"):
        parse_routes("x=y")
    with pytest.raises(RouteError, match="no routes"):
        parse_routes(" ")


async def _echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # until the client half-closes
    writer.write(data.upper())
    await writer.drain()
    writer.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    return answer


@contextlib.asynccontextmanager
async def _edge(routes: list[Route]):  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    task = asyncio.create_task(Edge(routes).serve(stop))
    await asyncio.sleep(0.1)
    try:
        yield
    finally:
        stop.set()
        await task


def test_forwards_both_directions_after_a_half_close() -> None:
    async def run() -> bytes:
        upstream = await asyncio.start_server(_echo_upper, "127.0.0.1", 0)
        upstream_port = upstream.sockets[0].getsockname()[1]
        listen = _free_port()
        async with _edge([Route(listen, "localhost", upstream_port)]):
            answer = await _exchange(listen, b"hello edge")
        upstream.close()
        return answer

    assert asyncio.run(run()) == b"HELLO EDGE"


def test_an_absent_upstream_gets_the_uniform_error_shape() -> None:
    async def run() -> bytes:
        listen = _free_port()
        async with _edge([Route(listen, "127.0.0.1", _free_port())]):
            return await _exchange(listen, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    answer = asyncio.run(run())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    error = json.loads(body)
    assert error["status_code"] == 503
    assert error["error_type"] == "dependency_unavailable"
    assert f"X-Error-ID: {error['error_id']}".encode() in head


def test_an_upstream_that_appears_a_moment_later_still_gets_the_connection() -> None:
    """The swap in a rolling update: nothing answers at first, the new container right after."""

    async def run() -> bytes:
        upstream_port = _free_port()
        listen = _free_port()
        async with _edge([Route(listen, "127.0.0.1", upstream_port)]):
            exchange = asyncio.create_task(_exchange(listen, b"late"))
            await asyncio.sleep(0.05)  # the first attempt has been refused by now
            upstream = await asyncio.start_server(_echo_upper, "127.0.0.1", upstream_port)
            answer = await exchange
            upstream.close()
        return answer

    assert asyncio.run(run()) == b"LATE"
