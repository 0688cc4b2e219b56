"""A lean HTTP/1.1 keep-alive transport for calls between tiers, behind httpx's transport interface.

Why not httpcore (httpx's own transport): per call it walks its connection pool in Python, polls
idle connections for readability and parses with h11, in pure Python: with 32 requests in flight
that was ~27 % of user-api's CPU (py-spy, issue 16), more than the tier's own route. A call inside
a cluster needs much less: plain HTTP/1.1 over TCP, keep-alive, a connection limit, timeouts. This
transport does that on an asyncio protocol and parses answers with httptools (llhttp, the parser
uvicorn serves with), and keeps httpx's contract: its timeouts (``connect``, ``read`` as the
longest silence while an answer is due, ``write``, ``pool``) and its exceptions (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``WriteTimeout``, ``PoolTimeout``, ``RemoteProtocolError``,
``LocalProtocolError``), so ``ServiceClient``'s retries, breaker and error mapping see no change.

What it does not speak goes to httpx's own transport, unchanged: https, request bodies that are
streams (not bytes in memory), ``HEAD`` (an answer whose length header describes no body) and
``Expect: 100-continue``.

The pool per origin is a stack of idle connections (the most recently used first, so a quiet
period lets the oldest expire) and a count of open ones: taking and returning a connection is
O(1). An idle connection the server closed is known from the event loop's own callbacks (no poll
per reuse); one idle longer than ``keepalive_expiry`` is closed when met. At ``max_connections``
a request waits, first come first served, for a connection another gives back, at most the
``pool`` timeout.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable
from typing import Any, TypeVar, cast

import httptools
import httpx

from unifyops_core.sharded_transport import ShardedTransport

T = TypeVar("T")

_NO_DATA_YET = b"Server disconnected without sending a response."
_CUT_SHORT = b"peer closed connection without sending complete message body"
# Sent again once on a new connection when a kept-alive one closed before a byte of the answer
# came back (the server's idle timeout met the request on the wire): methods safe to repeat.
_REPEATABLE = frozenset({"GET", "OPTIONS", "PUT", "DELETE"})


class _NothingReceived(httpx.RemoteProtocolError):
    """The connection closed before any byte of the answer."""


class _Call:
    """One answer being read: its parts, and the future its caller waits on."""

    __slots__ = (
        "body",
        "done",
        "headers",
        "headers_complete",
        "keep_alive",
        "reason",
        "received",
        "timer",
    )

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.reason = b""
        self.received = False
        self.headers_complete = False
        self.keep_alive = False  # read when the answer completes: the parser forgets it after
        self.timer: asyncio.TimerHandle | None = None  # the read timeout's


class _Connection(asyncio.Protocol):
    """One TCP connection to the origin: sends a request head and body, parses the answer."""

    def __init__(self, pool: _OriginPool) -> None:
        self.pool = pool
        self.transport: asyncio.WriteTransport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.call: _Call | None = None
        self.closed = False
        self.idle = False
        self.idle_since = 0.0
        self.last_data = 0.0
        self.keep_alive = False
        self.exchanges = 0
        self._writable: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: no isinstance check.
        self.transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        call = self.call
        if call is None:
            # Bytes nobody asked for (an idle connection): the stream is out of step; drop it.
            self.close()
            return
        call.received = True
        self.last_data = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))

    def eof_received(self) -> bool:
        self.closed = True
        return False  # let the transport close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        call = self.call
        if call is not None and not call.done.done():
            if call.headers_complete and _delimited_by_close(call.headers):
                call.done.set_result(None)  # an answer without a length ends where the stream does
            else:
                error = (
                    httpx.RemoteProtocolError(_CUT_SHORT.decode())
                    if call.received
                    else _NothingReceived(_NO_DATA_YET.decode())
                )
                call.done.set_exception(error)
        if self.idle:
            self.pool.forget_idle(self)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        assert self.call is not None
        self.call.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.call is not None
        self.call.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.call is not None
        self.call.headers_complete = True

    def on_body(self, body: bytes) -> None:
        assert self.call is not None
        self.call.body.append(body)

    def on_message_complete(self) -> None:
        call = self.call
        if call is not None and not call.done.done():
            call.keep_alive = bool(self.parser.should_keep_alive())
            call.done.set_result(None)

    # used by the transport

    def _fail(self, error: Exception) -> None:
        call = self.call
        if call is not None and not call.done.done():
            call.done.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, head: bytes, body: bytes, timeouts: dict[str, Any]) -> httpx.Response:
        """Send one request and read its answer (afterwards, ``reusable`` says whether another
        request may follow on this connection)."""
        if self.closed or self.transport is None:
            # Closed by the server between being handed over and now: nothing was sent.
            raise _NothingReceived(_NO_DATA_YET.decode())
        loop = asyncio.get_running_loop()
        call = self.call = _Call(loop.create_future())
        self.exchanges += 1
        self.transport.write(head + body)
        if self._writable is not None:
            await _within(self._writable, timeouts.get("write"), httpx.WriteTimeout)
        read_timeout = timeouts.get("read")
        self.last_data = time.monotonic()
        if read_timeout is not None:
            call.timer = loop.call_later(read_timeout, self._check_silence, call, read_timeout)
        try:
            await call.done
        finally:
            if call.timer is not None:
                call.timer.cancel()
        self.call = None
        self.keep_alive = call.keep_alive
        return httpx.Response(
            self.parser.get_status_code(),
            headers=call.headers,
            stream=httpx.ByteStream(b"".join(call.body)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": call.reason.strip()},
        )

    def _check_silence(self, call: _Call, read_timeout: float) -> None:
        """The read timeout is the longest silence while an answer is due, as httpx means it: one
        timer per call, moved on (not re-armed per chunk) while bytes keep arriving."""
        if call.done.done():
            return
        silent_for = time.monotonic() - self.last_data
        if silent_for >= read_timeout:
            call.done.set_exception(httpx.ReadTimeout("no answer within the read timeout"))
        else:
            loop = asyncio.get_running_loop()
            call.timer = loop.call_later(
                read_timeout - silent_for, self._check_silence, call, read_timeout
            )

    @property
    def reusable(self) -> bool:
        return not self.closed and self.keep_alive


async def _within(
    waited: Awaitable[T], seconds: float | None, error: type[httpx.TimeoutException]
) -> T:
    try:
        return await asyncio.wait_for(waited, seconds)
    except TimeoutError:
        raise error(f"timed out after {seconds} s") from None


class _OriginPool:
    """The connections to one host and port."""

    def __init__(self, host: str, port: int, limits: httpx.Limits) -> None:
        self.host, self.port = host, port
        self.max_connections = limits.max_connections
        self.max_idle = limits.max_keepalive_connections
        self.expiry = limits.keepalive_expiry
        self.idle: list[_Connection] = []
        self.open = 0
        self.waiting: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self.closed = False

    async def acquire(self, timeouts: dict[str, Any]) -> _Connection:
        while True:
            connection = self._take_idle()
            if connection is not None:
                return connection
            if self.max_connections is None or self.open < self.max_connections:
                return await self._connect(timeouts.get("connect"))
            handed: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            self.waiting.append(handed)
            try:
                connection = await _within(handed, timeouts.get("pool"), httpx.PoolTimeout)
            except BaseException:
                if handed.done() and not handed.cancelled():
                    given = handed.result()  # handed over just as this request gave up
                    if given is not None:
                        self.release(given, reusable=True)
                    else:
                        self._offer_place()
                else:
                    handed.cancel()
                raise
            if connection is None:
                continue  # a place was freed: connect (or take an idle one) above
            if not connection.closed:
                return connection
            connection.close()  # the server closed it on the way here
            self._freed()

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            connection.idle = False
            if not connection.closed and (
                self.expiry is None or now - connection.idle_since < self.expiry
            ):
                return connection
            connection.close()
            self.open -= 1
        return None

    async def _connect(self, seconds: float | None) -> _Connection:
        self.open += 1
        loop = asyncio.get_running_loop()
        try:
            _, connection = await _within(
                loop.create_connection(lambda: _Connection(self), self.host, self.port),
                seconds,
                httpx.ConnectTimeout,
            )
        except OSError as exc:
            self._freed()
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            self._freed()
            raise
        return connection

    def release(self, connection: _Connection, *, reusable: bool) -> None:
        if reusable and not connection.closed and not self.closed:
            while self.waiting:
                handed = self.waiting.popleft()
                if not handed.done():
                    handed.set_result(connection)  # first come, first served
                    return
            if self.max_idle is None or len(self.idle) < self.max_idle:
                connection.idle = True
                connection.idle_since = time.monotonic()
                self.idle.append(connection)
                return
        connection.close()
        self._freed()

    def forget_idle(self, connection: _Connection) -> None:
        """An idle connection the server closed: no longer counted, not offered again."""
        if connection in self.idle:
            self.idle.remove(connection)
            connection.idle = False
            self._freed()

    def _freed(self) -> None:
        self.open -= 1
        self._offer_place()

    def _offer_place(self) -> None:
        while self.waiting:
            handed = self.waiting.popleft()
            if not handed.done():
                handed.set_result(None)
                return

    def close(self) -> None:
        self.closed = True
        for connection in self.idle:
            connection.idle = False
            connection.close()
        self.open -= len(self.idle)
        self.idle.clear()


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self.pools: dict[tuple[str, int], _OriginPool] = {}
        self._fallback: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        stream = request.stream
        if (
            url.scheme != "http"
            or request.method == "HEAD"
            or not isinstance(stream, httpx.ByteStream)
            or "expect" in request.headers
        ):
            return await self._fallback_transport().handle_async_request(request)
        head = _head(request)
        body = request.content
        timeouts = request.extensions.get("timeout", {})
        pool = self._pool(url.host, url.port or 80)
        for attempt in (1, 2):
            connection = await pool.acquire(timeouts)
            try:
                response = await connection.exchange(head, body, timeouts)
            except _NothingReceived:
                self._drop(pool, connection)
                if attempt == 1 and connection.exchanges > 1 and request.method in _REPEATABLE:
                    continue
                raise
            except BaseException:
                # Cancelled or failed mid-exchange: what is left on the wire belongs to nobody.
                self._drop(pool, connection)
                raise
            pool.release(connection, reusable=connection.reusable and _keeps_alive(request))
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _drop(pool: _OriginPool, connection: _Connection) -> None:
        connection.call = None
        connection.close()
        pool.release(connection, reusable=False)

    def _pool(self, host: str, port: int) -> _OriginPool:
        pool = self.pools.get((host, port))
        if pool is None:
            pool = self.pools[(host, port)] = _OriginPool(host, port, self.limits)
        return pool

    def _fallback_transport(self) -> httpx.AsyncBaseTransport:
        if self._fallback is None:
            self._fallback = ShardedTransport(self.limits)
        return self._fallback

    async def aclose(self) -> None:
        for pool in self.pools.values():
            pool.close()
        if self._fallback is not None:
            await self._fallback.aclose()


def _head(request: httpx.Request) -> bytes:
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            # A header that would start another header (or end the head): never sent.
            raise httpx.LocalProtocolError(f"illegal header {name!r}")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _delimited_by_close(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower() for name, _ in headers}
    return b"content-length" not in names and b"transfer-encoding" not in names


def _keeps_alive(request: httpx.Request) -> bool:
    return str(request.headers.get("connection", "")).lower() != "close"


__all__ = ["KeepAliveTransport"]
