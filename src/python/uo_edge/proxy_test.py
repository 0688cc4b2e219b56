"""The edge against real sockets on loopback: routing, the vouched-for client address, rejected
heads in the uniform shape, the uniform 503, kept-alive connections framed by the edge itself, and
one request per connection for anything it cannot frame."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from uo_edge import proxy, request_head
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


class Upstream:
    """A raw HTTP upstream: records each connection's bytes, answers them back as the body."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = head + await reader.readexactly(length)
        self.received.append(data)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(data) + data
        )
        await writer.drain()
        writer.close()

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server:
            self.server.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _exchange(
    port: int, *parts: bytes, pause: float = 0.0, done_sending: bool = True
) -> bytes:
    """Send ``parts`` (pausing between them); read the answer until the edge closes. A client
    ``done_sending`` half-closes after its request, so that the edge, which keeps connections
    open for a next request, closes after answering; without it, the edge must close by itself
    (rejected heads, the one-shot path). A hang or a reset fails the test."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for part in parts:
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(pause)
    if done_sending:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


@contextlib.asynccontextmanager
async def _edge(upstream_port: int | None = None) -> AsyncIterator[int]:
    listen = _free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        Edge([Route(listen, "127.0.0.1", upstream_port or _free_port())]).serve(stop)
    )
    await asyncio.sleep(0.1)
    try:
        yield listen
    finally:
        stop.set()
        await task


def _split(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def _forwarded_fields(answer: bytes) -> list[tuple[str, str]]:
    """The header fields the upstream received, as it echoed them back."""
    _, echoed = _split(answer)
    head, _, _ = echoed.partition(b"\r\n\r\n")
    fields = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.decode().lower(), value.decode().strip()))
    return fields


def test_the_upstream_learns_the_client_address_from_the_edge_only() -> None:
    request = (
        b"POST /v1/auth/login HTTP/1.1\r\n"
        b"Host: localhost\r\n"
        b"X-Forwarded-For: 203.0.113.9\r\n"
        b"x-forwarded-for: 203.0.113.10\r\n"
        b"X-REAL-IP: 203.0.113.11\r\n"
        b"Forwarded: for=203.0.113.12\r\n"
        b"X-Forwarded-Proto: https\r\n"
        b"Connection: keep-alive\r\n"
        b"Content-Length: 11\r\n\r\n"
        b"hello"
    )

    async def run() -> tuple[bytes, list[bytes]]:
        upstream = Upstream()
        async with _edge(await upstream.start()) as port:
            answer = await _exchange(port, request, b" world", pause=0.05)
        upstream.close()
        return answer, upstream.received

    answer, received = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(received) == 1
    assert received[0].startswith(b"POST /v1/auth/login HTTP/1.1\r\n")
    assert received[0].endswith(b"\r\n\r\nhello world"), "body bytes read with the head go on"
    fields = _forwarded_fields(answer)
    request_ids = [value for name, value in fields if name == "x-request-id"]
    assert len(request_ids) == 1
    assert uuid.UUID(request_ids[0])  # the edge names the request when the client did not
    assert [(name, value) for name, value in fields if name != "x-request-id"] == [
        ("host", "localhost"),
        ("content-length", "11"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "http"),
    ]


def test_bare_lf_line_ends_are_forwarded_as_crlf() -> None:
    async def run() -> bytes:
        upstream = Upstream()
        async with _edge(await upstream.start()) as port:
            answer = await _exchange(port, b"\r\nGET /x HTTP/1.0\nHost: a\nX-Real-IP: 1.2.3.4\n\n")
        upstream.close()
        return answer

    answer = asyncio.run(run())
    assert _split(answer)[1].startswith(b"GET /x HTTP/1.0\r\nHost: a\r\nX-Forwarded-For: 127.0.0.1")
    assert ("x-real-ip", "1.2.3.4") not in _forwarded_fields(answer)


def test_each_forwarded_request_gets_one_request_id_and_one_access_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def run() -> list[bytes]:
        upstream = Upstream()
        async with _edge(await upstream.start()) as port:
            answers = [
                await _exchange(port, b"GET /v1/a?token=s3cret HTTP/1.1\r\nHost: a\r\n"
                                b"X-Request-ID: client-id-1\r\n\r\n"),
                await _exchange(port, b"GET /v1/b HTTP/1.1\r\nHost: a\r\n"
                                b"X-Request-ID: bad id!\r\n\r\n"),
            ]  # fmt: skip
        upstream.close()
        return answers

    kept, replaced = asyncio.run(run())
    assert ("x-request-id", "client-id-1") in _forwarded_fields(kept)
    new_id = dict(_forwarded_fields(replaced))["x-request-id"]
    assert new_id != "bad id!"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line["event"] == "access"]
    assert [(a["request_id"], a["method"], a["path"], a["status"]) for a in access] == [
        ("client-id-1", "GET", "/v1/a", 200),  # the query (a token, maybe) is not logged
        (new_id, "GET", "/v1/b", 200),
    ]
    assert all(isinstance(a["duration_ms"], float) for a in access)


def test_an_unavailable_upstream_is_a_503_access_line(capsys: pytest.CaptureFixture[str]) -> None:
    async def run() -> bytes:
        async with _edge() as port:
            return await _exchange(port, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")

    assert asyncio.run(run()).startswith(b"HTTP/1.1 503 ")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line["event"] == "access"]
    assert [(a["path"], a["status"]) for a in access] == [("/x", 503)]


def _assert_uniform(answer: bytes, status: int, error_type: str) -> dict[str, object]:
    head, body = _split(answer)
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert b"\r\nConnection: close" in head
    error = json.loads(body)
    assert {"status_code", "message", "error_id", "error_type", "timestamp"} <= error.keys()
    assert (error["status_code"], error["error_type"]) == (status, error_type)
    assert f"X-Error-ID: {error['error_id']}".encode() in head
    return dict(error)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"hello edge\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n X-Forwarded-For: 6.6.6.6\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-Forwarded-For : 6.6.6.6\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rX-Forwarded-For: 6.6.6.6\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello!",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=[
        "not-http",
        "http2",
        "space-in-target",
        "obs-fold-space",
        "obs-fold-tab",
        "space-before-colon",
        "bare-cr",
        "nul-in-value",
        "no-colon",
        "conflicting-lengths",
        "negative-length",
        "junk-length",
        "length-and-chunked",
    ],
)
def test_a_head_it_cannot_trust_is_400_and_never_reaches_the_upstream(
    request_bytes: bytes,
) -> None:
    async def run() -> tuple[bytes, list[bytes]]:
        upstream = Upstream()
        async with _edge(await upstream.start()) as port:
            answer = await _exchange(port, request_bytes)
        upstream.close()
        return answer, upstream.received

    answer, received = asyncio.run(run())
    _assert_uniform(answer, 400, "bad_request")
    assert received == []


def test_an_oversized_head_is_431_not_a_reset() -> None:
    huge = b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 200_000 + b"\r\n\r\n"

    async def run() -> bytes:
        async with _edge() as port:
            return await _exchange(port, huge)

    _assert_uniform(asyncio.run(run()), 431, "request_headers_too_large")


def test_a_head_that_never_ends_is_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_head, "HEAD_TIMEOUT_SECONDS", 0.3)

    async def run() -> bytes:
        async with _edge() as port:
            return await _exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n", done_sending=False)

    _assert_uniform(asyncio.run(run()), 408, "request_timeout")


def test_a_client_that_stops_mid_head_is_400() -> None:
    async def run() -> bytes:
        async with _edge() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n")
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer

    _assert_uniform(asyncio.run(run()), 400, "bad_request")


def test_a_readiness_probe_is_not_forwarded_or_answered() -> None:
    async def run() -> tuple[bytes, list[bytes]]:
        upstream = Upstream()
        async with _edge(await upstream.start()) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        upstream.close()
        return answer, upstream.received

    assert asyncio.run(run()) == (b"", [])


def test_an_absent_upstream_gets_the_uniform_503_naming_no_host() -> None:
    async def run() -> bytes:
        async with _edge() as port:
            return await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    answer = asyncio.run(run())
    error = _assert_uniform(answer, 503, "dependency_unavailable")
    assert b"127.0.0.1" not in answer
    assert "details" not in error


def test_an_upstream_that_appears_a_moment_later_still_gets_the_connection() -> None:
    """The swap in a rolling update: nothing answers at first, the new container right after."""

    async def run() -> bytes:
        upstream = Upstream()
        upstream_port = _free_port()
        async with _edge(upstream_port) as port:
            exchange = asyncio.create_task(
                _exchange(port, b"GET /late HTTP/1.1\r\nHost: a\r\n\r\n")
            )
            await asyncio.sleep(0.05)  # the first attempt has been refused by now
            await upstream.start(upstream_port)
            answer = await exchange
        upstream.close()
        return answer

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"GET /late HTTP/1.1" in answer


def _recording_app(seen: list[tuple[str, int]]) -> Any:
    """An ASGI app recording each request's client address (core's rule) and TCP port."""
    from unifyops_core.client_address import client_address_of

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append((client_address_of(scope), scope["client"][1]))
        body = json.dumps({"client": seen[-1][0], "path": scope["path"]}).encode()
        if scope["path"] == "/chunked":  # no length: uvicorn sends it chunked
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body[:5], "more_body": True})
            await send({"type": "http.response.body", "body": body[5:]})
            return
        length = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": length})
        await send({"type": "http.response.body", "body": body})

    return app


@contextlib.asynccontextmanager
async def _tier(seen: list[tuple[str, int]], keep_alive: int = 5) -> AsyncIterator[int]:
    """uvicorn serving _recording_app on loopback (keep-alive timeout: core's by default)."""
    import uvicorn

    upstream_port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            _recording_app(seen),
            host="127.0.0.1",
            port=upstream_port,
            log_config=None,
            lifespan="off",
            timeout_keep_alive=keep_alive,
            proxy_headers=False,  # scope["client"]: the TCP peer, whose port names the connection
        )
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn has no awaitable "started"; give it up to 5 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield upstream_port
    finally:
        server.should_exit = True
        await serving


# A last request that closes the connection (the one-shot path), so the test reads to the end.
_LAST = b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def _answers(stream: bytes) -> list[tuple[bytes, bytes]]:
    """(head, body) of each answer in a stream of Content-Length or chunked answers."""
    answers = []
    while stream:
        head, _, rest = stream.partition(b"\r\n\r\n")
        fields = {
            line.partition(b":")[0].lower(): line.partition(b":")[2].strip()
            for line in head.split(b"\r\n")[1:]
        }
        if b"content-length" in fields:
            length = int(fields[b"content-length"])
            body, stream = rest[:length], rest[length:]
        else:
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                body, rest = body + rest[:size], rest[size + 2 :]
                if size == 0:
                    break
            stream = rest
        answers.append((head, body))
    return answers


def test_every_request_on_a_kept_alive_connection_is_vouched_for_pipelined_too() -> None:
    """Against uvicorn and core's client_address rule (C1): a forged X-Forwarded-For changes
    nothing, for the first request or one pipelined behind it in the same packet."""
    seen: list[tuple[str, int]] = []

    async def run() -> bytes:
        async with _tier(seen) as upstream_port, _edge(upstream_port) as port:
            return await _exchange(
                port,
                b"GET /first HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
                b"GET /second HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n" + _LAST,
                done_sending=False,
            )

    answers = _answers(asyncio.run(run()))
    assert [json.loads(body) for _, body in answers] == [
        {"client": "127.0.0.1", "path": "/first"},
        {"client": "127.0.0.1", "path": "/second"},
        {"client": "127.0.0.1", "path": "/last"},
    ]
    assert [client for client, _ in seen] == ["127.0.0.1"] * 3
    assert len({port for _, port in seen[:2]}) == 1  # one upstream connection carried both


def test_bodies_and_answers_are_framed_so_the_next_request_starts_where_it_should() -> None:
    seen: list[tuple[str, int]] = []
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"

    async def run() -> bytes:
        async with _tier(seen) as upstream_port, _edge(upstream_port) as port:
            return await _exchange(
                port,
                # a body that looks like a request: it is the body, never a request
                b"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
                + smuggled,
                b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n",
                b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n",
                _LAST,
                pause=0.05,
                done_sending=False,
            )

    stream = asyncio.run(run())
    head_answer = stream.index(b"HTTP/1.1 200 OK", stream.index(b'"/chunked"'))
    last_answer = stream.index(b"HTTP/1.1 200 OK", head_answer + 1)
    answers = _answers(stream[:head_answer]) + _answers(stream[last_answer:])
    paths = [json.loads(body)["path"] for _, body in answers]
    assert paths == ["/post", "/chunked", "/last", "/last"]
    assert b"transfer-encoding: chunked" in answers[1][0].lower()
    assert [client for client, _ in seen] == ["127.0.0.1"] * 5
    assert len({port for _, port in seen[:4]}) == 1
    assert b"/smuggled" not in stream


def test_a_request_the_edge_cannot_frame_is_alone_on_its_connection() -> None:
    """Chunked (or upgraded, or HTTP/1.0) requests take the one-shot path: the upstream is told
    to close, and nothing after the request on the client connection reaches a tier."""
    upstream = Upstream()

    async def run() -> bytes:
        async with _edge(await upstream.start()) as port:
            return await _exchange(
                port,
                b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Length: 0\r\n\r\n",  # (refused outright: both framings)
            )

    _assert_uniform(asyncio.run(run()), 400, "bad_request")

    async def run_chunked() -> bytes:
        async with _edge(await upstream.start()) as port:
            return await _exchange(
                port,
                b"GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
                done_sending=False,
            )

    answer = asyncio.run(run_chunked())
    upstream.close()
    assert answer.count(b"HTTP/1.1 ") == 1
    assert len(upstream.received) == 1
    assert b"\r\nConnection: close\r\n" in upstream.received[0]


def test_a_pooled_upstream_connection_the_tier_closed_is_not_a_failure() -> None:
    """The tier closes idle connections (uvicorn's keep-alive timeout); the next request on the
    client connection still gets its answer."""
    seen: list[tuple[str, int]] = []

    async def run() -> list[bytes]:
        async with _tier(seen, keep_alive=1) as upstream_port, _edge(upstream_port) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answers = []
            for path in (b"/one", b"/two"):
                writer.write(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                answers.append(await reader.readexactly(length))
                await asyncio.sleep(1.3)  # past the tier's keep-alive timeout, not the edge's
            writer.close()
            return answers

    answers = asyncio.run(run())
    assert [json.loads(a)["path"] for a in answers] == ["/one", "/two"]
    assert len({port for _, port in seen}) == 2


class _Silent:
    """An upstream that reads the request and then hangs, or closes without a word."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if self.hang:
            await asyncio.sleep(30)
        writer.transport.abort()  # a crash: reset, nothing answered

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])


def test_an_upstream_that_hangs_gets_a_uniform_504(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.5)

    async def run() -> bytes:
        upstream = _Silent(hang=True)
        async with _edge(await upstream.start()) as port:
            answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert upstream.server
        upstream.server.close()
        return answer

    _assert_uniform(asyncio.run(run()), 504, "deadline_exceeded")


def test_an_upstream_that_crashes_before_answering_gets_a_uniform_502() -> None:
    async def run() -> bytes:
        upstream = _Silent(hang=False)
        async with _edge(await upstream.start()) as port:
            answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert upstream.server
        upstream.server.close()
        return answer

    answer = asyncio.run(run())
    _assert_uniform(answer, 502, "downstream_error")
    assert b"127.0.0.1" not in answer


class _DiesHolding:
    """A tier whose first connection answers one request, then holds the next for ``hold``
    seconds and dies (a process frozen, then killed by its liveness probe); a later connection
    finds the restarted process, which answers, or one that hangs."""

    def __init__(self, hold: float, restarted_answers: bool) -> None:
        self.hold = hold
        self.restarted_answers = restarted_answers
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        await reader.readuntil(b"\r\n\r\n")
        if first:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(self.hold)
            writer.transport.abort()
        elif self.restarted_answers:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nrestarted")
            await writer.drain()
        else:
            await asyncio.sleep(30)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])


async def _two_reads(tier: _DiesHolding) -> tuple[bytes, float]:
    """A kept-alive client's second read (the one the dying tier held) and how long it took."""
    async with _edge(await tier.start()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"first"), 5)
        started = time.monotonic()
        writer.write(b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n")  # kept alive: not one-shot
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        answer = head + await asyncio.wait_for(reader.readexactly(length), 5)
        took = time.monotonic() - started
        writer.close()
    assert tier.server
    tier.server.close()
    return answer, took


def test_a_read_held_by_a_tier_that_died_is_answered_by_its_restarted_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 2.0)
    tier = _DiesHolding(hold=0.5, restarted_answers=True)
    answer, _ = asyncio.run(_two_reads(tier))
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b"restarted"), answer
    assert tier.connections == 2


def test_a_read_sent_again_shares_the_one_response_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held 0.7 s by the tier that died, then sent to one that hangs: a 504 at the response
    timeout (1 s) from the start, not a second full timeout after the retry."""
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 1.0)
    tier = _DiesHolding(hold=0.7, restarted_answers=False)
    answer, took = asyncio.run(_two_reads(tier))
    _assert_uniform(answer, 504, "deadline_exceeded")
    assert tier.connections == 2
    assert took < 1.5, took


def test_stopping_closes_kept_alive_connections_waiting_for_a_next_request() -> None:
    seen: list[tuple[str, int]] = []

    async def run() -> bytes:
        async with _tier(seen) as upstream_port:
            listen = _free_port()
            stop = asyncio.Event()
            edge = Edge([Route(listen, "127.0.0.1", upstream_port)])
            serving = asyncio.create_task(edge.serve(stop))
            await asyncio.sleep(0.1)
            reader, writer = await asyncio.open_connection("127.0.0.1", listen)
            writer.write(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
            await reader.readuntil(b"}")  # answered; the connection waits for a next request
            stop.set()
            # Not held for the drain period (10 s): nothing is in flight on it.
            await asyncio.wait_for(serving, proxy.DRAIN_SECONDS / 2)
            left = await asyncio.wait_for(reader.read(), 1)
            writer.close()
            return left

    assert asyncio.run(run()) == b""


class _EarlyAnswer:
    """A tier that answers 413 on the head alone (a body limit) and closes without reading the
    body (after a moment of dropping it, as servers do so that the answer is not reset away)."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.heads.append(await reader.readuntil(b"\r\n\r\n"))
        body = b"too large"
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(0.2):
                while await reader.read(65536):
                    pass
        writer.close()


def test_an_answer_before_the_whole_body_reaches_the_client_and_ends_the_connection() -> None:
    tier = _EarlyAnswer()

    async def run() -> bytes:
        server = await asyncio.start_server(tier.handle, "127.0.0.1", 0)
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                for _ in range(5):  # more body comes; the tier reads none of it
                    writer.write(b"x" * 100_000)
                    await asyncio.sleep(0.001)
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        server.close()
        return answer

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b"too large")
    assert len(tier.heads) == 1


def test_a_slow_body_is_forwarded_whole_and_a_client_leaving_mid_body_frees_the_upstream() -> None:
    upstream = Upstream()

    async def run() -> tuple[bytes, bytes]:
        async with _edge(await upstream.start()) as port:
            whole = await _exchange(
                port,
                b"PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhel",
                b"lo",
                b" world",  # one byte past the body: the start of a next request head
                pause=0.05,
            )
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"PUT /b HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhel")
            await asyncio.sleep(0.05)
            writer.transport.abort()  # gone mid-body
            await asyncio.sleep(0.1)
            return whole, await asyncio.wait_for(reader.read(), 1)

    whole, _ = asyncio.run(run())
    upstream.close()
    assert whole.startswith(b"HTTP/1.1 200 OK\r\n")
    assert upstream.received[0].endswith(b"\r\n\r\nhello worl")
    # "d" began a next request that never completed: answered 400 when the client stopped.
    assert whole.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 400 " in whole


def test_an_upstream_with_bytes_past_its_answer_is_never_reused_for_another_client() -> None:
    """A 204 carrying a body, or bytes past Content-Length: they must not become the next
    client's answer on a pooled connection."""

    async def sloppy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1]
                if path == b"/sloppy":
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\nA's secret")
                else:
                    answer = b"for " + path
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer))
                    writer.write(answer)
                await writer.drain()

    async def run() -> list[bytes]:
        server = await asyncio.start_server(sloppy, "127.0.0.1", 0)
        answers = []
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            for path in (b"/sloppy", b"/b", b"/c"):
                answers.append(await _exchange(port, b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path))
        server.close()
        return answers

    sloppy_answer, b_answer, c_answer = asyncio.run(run())
    assert sloppy_answer.startswith(b"HTTP/1.1 204 ")
    assert _split(b_answer)[1] == b"for /b"
    assert _split(c_answer)[1] == b"for /c"


def test_a_client_that_leaves_is_passed_on_so_the_tier_stops_working_for_it() -> None:
    disconnected: list[float] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.append(time.monotonic() - started)

    async def run() -> None:
        import uvicorn

        upstream_port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=upstream_port, log_config=None, lifespan="off"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        for _ in range(500):  # uvicorn has no awaitable "started"; give it up to 5 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        async with _edge(upstream_port) as port:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            await asyncio.sleep(0.3)
            writer.close()  # gone before the answer
            for _ in range(100):
                if disconnected:
                    break
                await asyncio.sleep(0.05)
        server.should_exit = True
        await serving

    asyncio.run(run())
    assert disconnected, "the tier never learnt that its caller left"


def test_interim_answers_reach_the_client_before_the_final_one() -> None:
    async def hints(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def run() -> bytes:
        server = await asyncio.start_server(hints, "127.0.0.1", 0)
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        server.close()
        return answer

    answer = asyncio.run(run())
    interim, _, final = answer.partition(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload"
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")
    assert final.endswith(b"\r\n\r\nok")


class _Trickle:
    """A tier that sends its answer in ``parts``, ``gap`` seconds apart, then holds the
    connection open without a word (a tier hung in the middle of its body)."""

    def __init__(self, parts: list[bytes], gap: float) -> None:
        self.parts, self.gap = parts, gap

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for part in self.parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(self.gap)
        await asyncio.sleep(30)  # hung: deaf to the edge's half-close too


async def _through_edge(tier: _Trickle, request: bytes) -> tuple[bytes, float]:
    server = await asyncio.start_server(tier.handle, "127.0.0.1", 0)
    async with _edge(server.sockets[0].getsockname()[1]) as port:
        started = time.monotonic()
        answer = await _exchange(port, request)
        elapsed = time.monotonic() - started
    server.close()
    return answer, elapsed


STALLED = [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"0123456789"]


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",  # kept alive: the edge frames the answer
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",  # the one-shot relay
    ],
)
def test_a_tier_stalled_mid_body_is_cut_off_after_the_response_timeout(
    monkeypatch: pytest.MonkeyPatch, request_head: bytes
) -> None:
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.6)
    answer, elapsed = asyncio.run(_through_edge(_Trickle(STALLED, gap=0.05), request_head))
    head, body = _split(answer)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"0123456789"  # what came, and then the connection closed
    assert elapsed < 3  # not held until the tier gives up (it never does)


def test_an_answer_that_keeps_coming_is_not_cut_however_long_it_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The timeout is on silence, not on the whole answer: six pieces 0.2 s apart take 1.2 s.
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.6)
    parts = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]
    parts += [b"2\r\nok\r\n"] * 4 + [b"0\r\n\r\n"]
    answer, elapsed = asyncio.run(
        _through_edge(_Trickle(parts, gap=0.2), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    )
    head, body = _split(answer)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"2\r\nok\r\n" * 4 + b"0\r\n\r\n"
    assert elapsed > 1.0


async def _answering_after_the_upload(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A tier that says 100 Continue, reads the whole upload, then answers with it."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await writer.drain()
    body = await reader.readexactly(length)
    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    writer.close()


async def _talking_after_an_upgrade(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A tier that switches protocols, listens quietly, and speaks once the client is done."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
    await writer.drain()
    heard = b""
    while len(heard) < 5 and (data := await reader.read(100)):
        heard += data
    writer.write(b"heard:" + heard)
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(
    ("tier", "request_head", "pieces", "expected"),
    [
        (
            _answering_after_the_upload,
            b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            b"abcde",
            b"HTTP/1.1 201 Created",
        ),
        (
            _talking_after_an_upgrade,
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n",
            b"abcde",
            b"heard:abcde",
        ),
    ],
)
def test_a_tier_quiet_while_the_client_talks_is_not_cut(
    monkeypatch: pytest.MonkeyPatch,
    tier: Any,
    request_head: bytes,
    pieces: bytes,
    expected: bytes,
) -> None:
    # After a 1xx the bytes flow from the client: the tier's silence is no stall.
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.6)

    async def run() -> bytes:
        server = await asyncio.start_server(tier, "127.0.0.1", 0)
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request_head)
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 10")
            for piece in pieces:  # 1 s of talking, past the timeout
                writer.write(bytes([piece]))
                await writer.drain()
                await asyncio.sleep(0.2)
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        server.close()
        return answer

    assert expected in asyncio.run(run())


async def _big_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    size = 4 * 1024 * 1024
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
    await writer.drain()
    await asyncio.sleep(30)


@pytest.mark.parametrize("close", [b"", b"Connection: close\r\n"])
def test_the_connection_of_a_client_that_stopped_reading_is_released(
    monkeypatch: pytest.MonkeyPatch, close: bytes
) -> None:
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.6)
    held: list[asyncio.WriteTransport] = []
    forward = Edge.forward

    async def noting_the_transport(
        self: Edge, route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        held.append(writer.transport)
        await forward(self, route, reader, writer)

    monkeypatch.setattr(Edge, "forward", noting_the_transport)

    async def run() -> None:
        server = await asyncio.start_server(_big_answer, "127.0.0.1", 0)
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            _, writer = await asyncio.open_connection(sock=sock)
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n" + close + b"\r\n")
            # Never read. After the cut and the linger the edge must let the socket go, although
            # a buffer's worth of the answer is still waiting for this client.
            await asyncio.sleep(0.6 + proxy.LINGER_SECONDS + 1.5)
            (transport,) = held
            assert transport.is_closing()
            assert transport.get_extra_info("socket").fileno() == -1, "the socket is still held"
            writer.close()
        server.close()

    asyncio.run(run())


def test_a_chunked_answer_whose_lines_come_apart_is_not_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Size lines and trailers passed on count as a sign of life, as chunk data does.
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.6)
    parts = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]
    parts += [b"2\r\n", b"ok\r\n"] * 3 + [b"0\r\n", b"X-Trailer: 1\r\n", b"\r\n"]
    answer, _ = asyncio.run(
        _through_edge(_Trickle(parts, gap=0.2), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    )
    assert answer.endswith(b"2\r\nok\r\n" * 3 + b"0\r\nX-Trailer: 1\r\n\r\n")


def test_a_client_reading_slowly_gets_the_whole_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client taking ~100 KB/s: no write of the edge completes within the timeout, yet bytes
    # keep leaving for it, so it is slow, not gone (a mobile link, a big download).
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 1.0)

    async def run() -> bytes:
        server = await asyncio.start_server(_big_answer, "127.0.0.1", 0)
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            received = b""
            slow_until = time.monotonic() + 2.5  # past two timeouts
            while time.monotonic() < slow_until and (data := await reader.read(4096)):
                received += data
                await asyncio.sleep(0.04)
            received += await asyncio.wait_for(reader.read(), 10)  # the rest, at full speed
            writer.close()
        server.close()
        return received

    head, body = _split(asyncio.run(run()))
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert len(body) == 4 * 1024 * 1024


def test_a_tier_stalled_mid_body_is_cut_one_bound_after_its_last_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The tier's last byte leaves at ~0.05 s; with a 1 s bound the cut is due at ~1.05 s.
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 1.0)
    answer, elapsed = asyncio.run(
        _through_edge(_Trickle(STALLED, gap=0.05), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    )
    assert answer.endswith(b"\r\n\r\n0123456789")
    assert elapsed < 1.5, f"cut after {elapsed:.2f} s of a 1 s bound"


def test_a_client_taking_a_trickle_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """~1 KB per bound (20-40 B/s at the real 30 s) would hold both connections and the tier's
    answer for ever: a slow-read attack, cut as a client that stopped reading is."""
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 0.5)
    held: list[asyncio.WriteTransport] = []
    forward = Edge.forward

    async def noting(
        self: Edge, route: Route, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        held.append(w.transport)
        await forward(self, route, r, w)

    monkeypatch.setattr(Edge, "forward", noting)

    async def run() -> tuple[bool, int]:
        server = await asyncio.start_server(_big_answer, "127.0.0.1", 0)
        async with _edge(server.sockets[0].getsockname()[1]) as port:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            sock.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            taken, until = 0, time.monotonic() + 5.0  # ten bounds
            while time.monotonic() < until and not (held and held[0].is_closing()):
                await asyncio.sleep(0.45)
                with contextlib.suppress(BlockingIOError):
                    taken += len(sock.recv(1024))
            cut = bool(held) and held[0].is_closing()
            sock.close()
        server.close()
        return cut, taken

    cut, taken = asyncio.run(run())
    assert cut, f"not cut after 10 bounds, having taken {taken} bytes of 4 MiB"


class _Restarting:
    """First connection: answers one request, holds the next, dies. Later connections: answer
    every request with its path, kept alive (the restarted process)."""

    def __init__(self, hold: float, restarted_listens: bool = True) -> None:
        self.hold, self.restarted_listens = hold, restarted_listens
        self.connections = 0
        self.seen: list[tuple[float, bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.blackhole: list[socket.socket] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            path = head.split(b" ")[1]
            self.seen.append((time.monotonic(), path))
            if first and path != b"/one":
                await asyncio.sleep(self.hold)
                if not self.restarted_listens:
                    self._blackhole()
                writer.transport.abort()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))
            await writer.drain()

    def _blackhole(self) -> None:
        """The restarted process is not accepting: the listener's queue is full, SYNs dropped."""
        assert self.server
        self.server.close()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)
        filler = socket.create_connection(("127.0.0.1", self.port))
        self.blackhole += [listener, filler]

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    def close(self) -> None:
        if self.server:
            self.server.close()
        for sock in self.blackhole:
            sock.close()


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await asyncio.wait_for(reader.readexactly(length), 3)


def test_a_request_sent_while_a_read_is_held_is_not_lost_when_the_read_is_sent_again() -> None:
    async def run() -> list[bytes]:
        tier = _Restarting(hold=0.6)
        async with _edge(await tier.start()) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
            answers = [await _answer(reader)]
            writer.write(b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n")
            await asyncio.sleep(0.2)  # /two is held by the dying tier
            writer.write(b"GET /three HTTP/1.1\r\nHost: a\r\n\r\n")  # pipelined behind it
            answers.append(await _answer(reader))
            try:
                answers.append(await _answer(reader))
            except TimeoutError:
                answers.append(b"<no answer to /three within 3 s>")
            writer.close()
        tier.close()
        return answers

    answers = asyncio.run(run())
    assert [a.rsplit(b"\r\n\r\n", 1)[-1] for a in answers] == [b"/one", b"/two", b"/three"]


def test_a_read_sent_again_is_answered_within_the_one_response_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(proxy, "RESPONSE_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(proxy, "CONNECT_TIMEOUT_SECONDS", 1.0)

    async def run() -> tuple[bytes, float]:
        tier = _Restarting(hold=0.8, restarted_listens=False)
        async with _edge(await tier.start()) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
            await _answer(reader)
            started = time.monotonic()
            writer.write(b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)
            took = time.monotonic() - started
            writer.close()
        tier.close()
        return answer, took

    answer, took = asyncio.run(run())
    status = answer.split(b"\r\n")[0]
    assert took < 1.3, f"{status!r} after {took:.2f} s of a 1 s response timeout"
