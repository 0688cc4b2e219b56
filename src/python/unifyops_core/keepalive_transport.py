"""A lean HTTP/1.1 keep-alive transport for calls between tiers, behind httpx's transport interface.

Why not httpcore (httpx's own transport): per call it walks its connection pool in Python, polls
every idle connection for readability and parses with h11, in pure Python: with 32 requests in
flight that was ~27 % of user-api's CPU (py-spy, issue 16), more than the tier's own route. A call
inside a cluster needs much less: plain HTTP/1.1 over TCP, keep-alive, a connection limit,
timeouts. This transport does that on an asyncio protocol and parses answers with httptools
(llhttp, the parser uvicorn serves with), and keeps httpx's contract: its timeouts (``connect``,
``read`` as the longest silence while an answer is due, ``write``, ``pool``) and its exceptions
(``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``ReadError``, ``WriteTimeout``,
``PoolTimeout``, ``RemoteProtocolError``, ``LocalProtocolError``), so ``ServiceClient``'s
retries, breaker and error mapping see no change. Like httpcore it never sends a request twice:
repeating is ServiceClient's decision, within its retry budget.

What it does not speak goes to httpx's own transport, unchanged: https, request bodies that are
streams (not bytes in memory), ``HEAD`` (an answer whose length header describes no body) and
``Expect: 100-continue``. Interim (1xx) answers are skipped.

The pool per origin is a stack of idle connections (the most recently used first, so a quiet
period lets the oldest expire) and a count of open ones: taking and returning a connection is
O(1). Before reuse, one readability check of that one connection (a poll with no wait): an idle
connection has nothing to say, so anything readable (the server's close, a late ``408``) means
it is not reused. One idle longer than ``keepalive_expiry`` is closed when met. At
``max_connections`` requests queue, first come first served: a connection given back, or the
place of one that closed, goes to the longest waiting, and a newcomer never overtakes the queue;
each waits at most the ``pool`` timeout.
"""

from __future__ import annotations

import asyncio
import collections
import re
import select
import time
from collections.abc import Awaitable
from typing import Any, TypeVar, cast

import httptools
import httpx

from unifyops_core.sharded_transport import ShardedTransport

T = TypeVar("T")

_DISCONNECTED = "Server disconnected without sending a response."
_CUT_SHORT = "peer closed connection without sending complete message body"
# What h11 (httpx's own transport) refuses to send, refused here too: a method or header name
# that is not a token, a value with a control character (a CR or LF would start another header).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class _Place:
    """Handed to a waiter instead of a connection: the place of one that closed is now its own."""


_PLACE = _Place()


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
        "version",
    )

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.received = False
        self.timer: asyncio.TimerHandle | None = None  # the read timeout's
        self.keep_alive = False  # read when the answer completes: the parser forgets it after
        self.version = b"HTTP/1.1"
        self._start_answer()

    def _start_answer(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.reason = b""
        self.headers_complete = False


class _Connection(asyncio.Protocol):
    """One TCP connection to the origin: sends a request head and body, parses the answer."""

    def __init__(self, pool: _OriginPool) -> None:
        self.pool = pool
        self.transport: asyncio.WriteTransport | None = None
        self.fileno = -1
        self.parser = httptools.HttpResponseParser(self)
        self.call: _Call | None = None
        self.closed = False
        self.idle = False
        self.idle_since = 0.0
        self.last_data = 0.0
        self.keep_alive = False
        self._writable: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: no isinstance check.
        self.transport = cast(asyncio.WriteTransport, transport)
        sock = transport.get_extra_info("socket")
        self.fileno = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        call = self.call
        if call is None or call.done.done():
            # Bytes nobody asked for (an idle connection, or after a complete answer): the
            # stream is out of step; drop the connection.
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
            if exc is not None:  # a reset: whatever arrived may be cut short
                call.done.set_exception(httpx.ReadError(str(exc) or type(exc).__name__))
            elif call.headers_complete and _delimited_by_close(call.headers):
                call.done.set_result(None)  # an answer without a length ends where the stream does
            else:
                message = _CUT_SHORT if call.received else _DISCONNECTED
                call.done.set_exception(httpx.RemoteProtocolError(message))
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

    # httptools callbacks (only while a call is reading: data_received checks)

    def on_message_begin(self) -> None:
        assert self.call is not None
        self.call._start_answer()

    def on_status(self, reason: bytes) -> None:
        assert self.call is not None
        self.call.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.call is not None
        self.call.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.call is not None
        self.call.headers_complete = True
        self.call.version = b"HTTP/" + self.parser.get_http_version().encode("ascii")

    def on_body(self, body: bytes) -> None:
        assert self.call is not None
        self.call.body.append(body)

    def on_message_complete(self) -> None:
        call = self.call
        assert call is not None
        if 100 <= self.parser.get_status_code() < 200:
            call._start_answer()  # an interim answer (103 Early Hints...): the real one follows
            return
        call.keep_alive = bool(self.parser.should_keep_alive())
        call.done.set_result(None)

    # used by the pool and the transport

    def _fail(self, error: Exception) -> None:
        call = self.call
        if call is not None and not call.done.done():
            call.done.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def quiet(self) -> bool:
        """Whether the idle connection has nothing to read: readable means the server closed it or
        said something on its own (a late 408) that the loop has not handled yet."""
        if self.closed or self.fileno < 0:
            return False
        poll = select.poll()  # not select.select: no limit on the descriptor's number
        poll.register(self.fileno, select.POLLIN)
        try:
            return not poll.poll(0)
        except OSError:
            return False

    async def exchange(self, head: bytes, body: bytes, timeouts: dict[str, Any]) -> httpx.Response:
        """Send one request and read its answer (afterwards, ``keep_alive`` says whether another
        request may follow on this connection)."""
        if self.closed or self.transport is None:
            raise httpx.RemoteProtocolError(_DISCONNECTED)
        loop = asyncio.get_running_loop()
        call = self.call = _Call(loop.create_future())
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
            extensions={"http_version": call.version, "reason_phrase": call.reason.strip()},
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


async def _within(
    waited: Awaitable[T], seconds: float | None, error: type[httpx.TimeoutException]
) -> T:
    # asyncio.timeout, not wait_for: on 3.11 wait_for returns a result that arrived in the same
    # step as a cancellation, and the cancelled caller would go on to send its request.
    try:
        async with asyncio.timeout(seconds):
            return await waited
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
        self.open = 0  # connected, connecting, or a place handed to a waiter
        self.waiting: collections.deque[asyncio.Future[_Connection | _Place]] = collections.deque()
        self.closed = False

    async def acquire(self, timeouts: dict[str, Any]) -> _Connection:
        if not self.waiting:  # a newcomer never overtakes the queue
            connection = self._take_idle()
            if connection is not None:
                return connection
            if self.max_connections is None or self.open < self.max_connections:
                self.open += 1
                return await self._connect(timeouts.get("connect"))
        if self.closed:
            raise httpx.ConnectError("the transport is closed")
        handed: asyncio.Future[_Connection | _Place] = asyncio.get_running_loop().create_future()
        self.waiting.append(handed)
        try:
            given = await _within(handed, timeouts.get("pool"), httpx.PoolTimeout)
        except BaseException:
            if handed.done() and not handed.cancelled() and handed.exception() is None:
                self._pass_on(handed.result())  # handed over just as this request gave up
            else:
                handed.cancel()
                if handed in self.waiting:
                    self.waiting.remove(handed)
            raise
        if isinstance(given, _Connection) and given.quiet():
            return given
        if isinstance(given, _Connection):
            given.close()  # closed or spoke while handed over; its place is ours
        return await self._connect(timeouts.get("connect"))

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            connection.idle = False
            if (self.expiry is None or now - connection.idle_since < self.expiry) and (
                connection.quiet()
            ):
                return connection
            connection.close()
            self.open -= 1
        return None

    async def _connect(self, seconds: float | None) -> _Connection:
        """Open a connection in a place already counted in ``open``."""
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
            if self._hand(connection):
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
        """A connection closed: its place goes to the longest waiting, else is given up."""
        if not self._hand(_PLACE):
            self.open -= 1

    def _pass_on(self, given: _Connection | _Place) -> None:
        if isinstance(given, _Connection):
            self.release(given, reusable=True)
        else:
            self._freed()

    def _hand(self, given: _Connection | _Place) -> bool:
        while self.waiting:
            handed = self.waiting.popleft()
            if not handed.done():
                handed.set_result(given)
                return True
        return False

    def close(self) -> None:
        self.closed = True
        for connection in self.idle:
            connection.idle = False
            connection.close()
        self.open -= len(self.idle)
        self.idle.clear()
        while self.waiting:
            handed = self.waiting.popleft()
            if not handed.done():
                handed.set_exception(httpx.ConnectError("the transport is closed"))


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self.pools: dict[tuple[str, int], _OriginPool] = {}
        self._fallback: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (
            url.scheme != "http"
            or request.method == "HEAD"
            or not isinstance(request.stream, httpx.ByteStream)
            or "expect" in request.headers
        ):
            return await self._fallback_transport().handle_async_request(request)
        head = _head(request)
        timeouts = request.extensions.get("timeout", {})
        pool = self._pool(url.host, url.port or 80)
        connection = await pool.acquire(timeouts)
        try:
            response = await connection.exchange(head, request.content, timeouts)
        except BaseException:
            # Cancelled or failed mid-exchange: what is left on the wire belongs to nobody.
            connection.call = None
            connection.close()
            pool.release(connection, reusable=False)
            raise
        pool.release(connection, reusable=connection.keep_alive and _keeps_alive(request))
        return response

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
    method = request.method.encode("ascii", "replace")
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"illegal method {request.method!r}")
    lines = [method, b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE_BYTE.search(value):
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
