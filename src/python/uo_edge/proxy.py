"""The local environment's front door: one listener per published port, each forwarding to a
tier by its network alias (``8102=user-api:8002``).

It plays the part of the ingress controller for `uo up`: the only container on a network with
published ports, so the tiers themselves stay on internal networks. The upstream name is resolved
for every new connection and every address is tried, so a rolling update (new container joins the
alias, old one stops) moves traffic without the proxy being touched. When no upstream answers, the
caller gets the platform's uniform error shape with status 503 instead of a reset connection; when
the upstream accepts the request but closes (crashes) before answering, 502; when it starts no
answer within RESPONSE_TIMEOUT_SECONDS (a hung process), 504. An answer that then passes nothing
on for as long (a tier hung mid-body, or a client that stopped reading) is cut off: both
connections are dropped, and neither side is held forever (after a 1xx, bytes flow from the
client and the tier's silence is not bounded).

Being the outermost proxy, the edge vouches for the client (see ``unifyops_core.client_address``):
it reads every request head (``request_head``), drops whatever the client said about forwarding
(``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``...) and adds ``X-Forwarded-For: <the address it
accepted the connection from>``. A head it cannot trust is answered in the uniform shape (400, 408
or 431) and the connection closed.

Connections are kept alive on both sides when the edge can frame the messages itself
(``framing``): a request with an unambiguous length, an answer with a known end. Then the next
request on the client connection is read and checked like the first, and the upstream connection
is reused (``upstreams``): the tiers are spared a TCP connection per request. Any other request
(a chunked or upgraded one, HTTP/1.0, ``Connection: close``) takes the one-shot path: the
upstream is asked to close after its answer, bytes are relayed both ways, as a TCP relay would,
until it does, and the client connection closes. So a second request can never reach a tier
inside bytes the edge did not frame. Every edge route is HTTP (they are the chart's Ingress
``http`` paths, see ``uo.local.manifests.routes``), so no route needs a plain TCP mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from uo_edge.framing import (
    Progress,
    ResponseHead,
    UpstreamFramingError,
    body_length,
    delimited,
    keeps_alive,
    read_response_head,
    relay_body,
    relay_exactly,
)
from uo_edge.request_head import HeadError, RequestHead, client_ip, read_head
from uo_edge.silence import silence_bounded
from uo_edge.upstreams import Upstream, UpstreamPool

CONNECT_TIMEOUT_SECONDS = 4.0
# Addresses are tried staggered, not one after another: during a rolling update the name can
# still resolve to a container that just stopped, whose address no longer answers at all.
HAPPY_EYEBALLS_DELAY = 0.25
CONNECT_ATTEMPTS = 2
# How long an upstream may take to start its answer (nginx's proxy_read_timeout, tighter): above
# every tier's request budget (10 s by default, 20 s for the longest route), so only a tier that
# hangs meets it. Then the caller gets a uniform 504 instead of waiting for ever.
RESPONSE_TIMEOUT_SECONDS = 30.0
DRAIN_SECONDS = 10.0
CHUNK = 64 * 1024
# The longest answer head the kept-alive path frames (asyncio's default would be 64 KiB); longer
# is a 502.
ANSWER_HEAD_LIMIT = 256 * 1024
# After answering, the client's unread bytes are read and dropped for a moment before closing:
# closing with unread data makes the kernel send a reset, and the client may lose the answer.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
# A kept-alive client connection with no next request for this long is closed (nginx: 75 s; a
# browser opens another when it needs one).
CLIENT_IDLE_SECONDS = 15.0
# Only these are sent again on a new connection when a reused one closed before a byte of the
# answer: safe methods without a body (nginx's proxy_next_upstream default, less POST). Whether
# the tier closed it as the request went out (its keep-alive timeout) or after holding the
# request (killed mid-request: the new connection finds its restarted process, or nothing and a
# 503), all within the one response timeout.
_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    listen_port: int
    upstream_host: str
    upstream_port: int


class RouteError(ValueError):
    """UO_EDGE_ROUTES is not a comma-separated list of PORT=HOST:PORT."""


def parse_routes(text: str) -> list[Route]:
    routes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        listen, _, upstream = item.partition("=")
        host, _, port = upstream.rpartition(":")
        if not (listen.isdigit() and host and port.isdigit()):
            raise RouteError(f"bad route {item!r}: expected PORT=HOST:PORT")
        routes.append(Route(int(listen), host, int(port)))
    if not routes:
        raise RouteError("no routes: set UO_EDGE_ROUTES, e.g. 8002=auth-api:8002")
    return routes


_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_response(status: int, error_type: str, message: str) -> bytes:
    """An HTTP response in the platform's uniform error shape that closes the connection."""
    error_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "status_code": status,
            "message": message,
            "error_id": error_id,
            "error_type": error_type,
            "timestamp": datetime.now(UTC).isoformat(),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Error-ID: {error_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def unavailable_response() -> bytes:
    # Names no upstream: internal aliases are nobody's business outside (the log names it).
    return error_response(503, "dependency_unavailable", "The service is not available")


def _timeout_response() -> bytes:
    return error_response(504, "deadline_exceeded", "The service did not answer in time")


def _failed_response() -> bytes:
    return error_response(502, "downstream_error", "The service failed to answer")


def log(event: str, **fields: object) -> None:
    record = {"timestamp": datetime.now(UTC).isoformat(), "service": "edge", "event": event}
    print(json.dumps({**record, **fields}), flush=True)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, progress: Progress | None = None
) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
            if progress is not None:
                progress()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still carry the response
    except (ConnectionError, OSError):
        writer.close()


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


async def _relay_answer(
    up_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream: str
) -> tuple[int, bytes | None, bool]:
    """Relay the upstream's answer and return its status; when it starts none (it hung, or it
    closed or crashed before a byte), the status and uniform error to send instead; and whether
    the answer was cut off for silence (then the connections are aborted, not closed)."""
    try:
        first = await asyncio.wait_for(up_reader.read(CHUNK), RESPONSE_TIMEOUT_SECONDS)
    except TimeoutError:
        log("upstream_timeout", upstream=upstream, seconds=RESPONSE_TIMEOUT_SECONDS)
        return 504, _timeout_response(), False
    except (ConnectionError, OSError):
        first = b""
    if not first:
        log("upstream_closed_without_answer", upstream=upstream)
        return 502, _failed_response(), False
    client_writer.write(first)
    await client_writer.drain()
    status = _STATUS_LINE.match(first)
    code = int(status.group(1)) if status else 502
    if 100 <= code < 200:
        # 100 Continue (an upload follows) or 101 (an upgraded connection): bytes flow the other
        # way too, and the upstream's silence meanwhile is no stall. Unbounded, as before.
        await _pipe(up_reader, client_writer)
        return code, None, False
    try:
        async with silence_bounded(client_writer, RESPONSE_TIMEOUT_SECONDS) as progress:
            await _pipe(up_reader, client_writer, progress)  # it drains after each piece
    except TimeoutError:
        log("upstream_stalled", upstream=upstream, seconds=RESPONSE_TIMEOUT_SECONDS)
        _cut(client_writer)
        return code, None, True
    return code, None, False


def _cut(writer: asyncio.StreamWriter) -> None:
    """Drop a connection now: ``close`` would first wait for a peer that stopped reading to take
    what is still buffered for it, i.e. keep its socket forever."""
    writer.transport.abort()


async def _linger(reader: asyncio.StreamReader) -> None:
    """Drop what the client still sends, until it closes or a moment passes (see LINGER_SECONDS)."""
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while dropped < LINGER_BYTES and (data := await reader.read(CHUNK)):
                dropped += len(data)


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes
) -> None:
    """Answer without the upstream, then close gently (half-close, linger)."""
    writer.write(response)
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    await _linger(reader)


async def connect(route: Route) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve the upstream afresh and connect, once more after a short pause if nothing
    answered (the moment a rolling update swaps the containers behind the name)."""
    failure: OSError | TimeoutError = OSError(f"{route.upstream_host} did not answer")
    for attempt in range(CONNECT_ATTEMPTS):
        if attempt:
            await asyncio.sleep(0.2)
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    route.upstream_host,
                    route.upstream_port,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                    limit=ANSWER_HEAD_LIMIT,
                ),
                CONNECT_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError) as exc:
            failure = exc
    raise failure


class _ClientWatch:
    """The client connection while its answer is awaited and relayed: first the rest of the
    request body goes to the upstream (a tier may answer, say 413, before reading it), then what
    the client sends next is kept for the next request (up to CHUNK), and a client that closes is
    passed on as the old one-shot relay did: the upstream is half-closed, so a tier learns that its
    caller left (uvicorn's ``http.disconnect``)."""

    def __init__(
        self,
        client: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        remaining: int,
        kept: bytes = b"",
    ) -> None:
        self.body_sent = remaining == 0
        self.left = False
        self.next = kept  # ``kept``: read by an earlier attempt's watch
        self._client, self._upstream = client, upstream
        self.task = asyncio.ensure_future(self._watch(remaining))

    async def _watch(self, remaining: int) -> None:
        if remaining:
            try:
                await relay_exactly(remaining, self._client, self._upstream)
            except UpstreamFramingError:
                self.left = True
                raise ConnectionResetError("the client left in the middle of its body") from None
            except (ConnectionError, OSError):
                return  # the upstream stopped reading; it may still answer
            self.body_sent = True
        while len(self.next) < CHUNK:
            data = await self._client.read(CHUNK - len(self.next))
            if not data:
                self.left = True
                with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                    if self._upstream.can_write_eof():
                        self._upstream.write_eof()
                return
            self.next += data

    async def stop(self) -> None:
        self.task.cancel()  # and wait: the client's reader is read next by another
        await asyncio.gather(self.task, return_exceptions=True)


async def _first_answer(
    upstream: asyncio.StreamReader, client: asyncio.StreamWriter, watch: _ClientWatch
) -> ResponseHead | None:
    """The upstream's final answer head; interim 1xx answers (103 Early Hints) go on to the client
    as they come, as the one-shot path relays them. Raises ConnectionError when the client left in
    the middle of its body."""

    async def final_head() -> ResponseHead | None:
        answer = await read_response_head(upstream)
        while answer is not None and 100 <= answer.status < 200:
            client.write(answer.for_client(close=False))
            answer = await read_response_head(upstream)
        return answer

    if watch.body_sent:
        # Nothing left to send: a client leaving now half-closes the upstream, which ends this
        # read by itself; no race (and no task) needed.
        return await final_head()
    reading = asyncio.ensure_future(final_head())
    try:
        racing: set[asyncio.Future[Any]] = {reading, watch.task}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():
            watch.task.result()  # raises when the client left mid-body
        return await reading
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


class Edge:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self.active: set[asyncio.Task[None]] = set()
        # Client connections waiting for their next request: closed at once when stopping.
        self.between_requests: set[asyncio.Task[None]] = set()
        self.upstreams = UpstreamPool()
        self.stopping = False  # answers in flight then close their connections

    async def forward(
        self, route: Route, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.active.add(task)
        try:
            await self._forward(route, client_reader, client_writer)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the caller went away (or the edge is stopping between its requests)
        finally:
            client_writer.close()
            self.active.discard(task)
            self.between_requests.discard(task)

    async def _forward(
        self, route: Route, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        peer = client_ip(client_writer.get_extra_info("peername"))
        task = asyncio.current_task()
        assert task is not None
        buffered, first = b"", True
        while True:
            if not first:
                self.between_requests.add(task)
            try:
                head = await read_head(
                    client_reader, buffered, idle_seconds=None if first else CLIENT_IDLE_SECONDS
                )
            except HeadError as exc:
                log(
                    "request_rejected",
                    port=route.listen_port,
                    status=exc.status,
                    reason=exc.message,
                )
                response = error_response(exc.status, exc.error_type, exc.message)
                await _answer(client_reader, client_writer, response)
                return
            finally:
                self.between_requests.discard(task)
            if head is None:
                return  # a readiness probe, or a kept-alive client that left
            if peer is None:  # not a TCP peer: nobody to vouch for
                response = error_response(400, "bad_request", "Unknown client address")
                await _answer(client_reader, client_writer, response)
                return
            request_id = head.request_id or str(uuid.uuid4())
            started = time.perf_counter()
            if keeps_alive(head):
                status, failure, buffered, stays_open = await self._exchange(
                    route, head, peer, request_id, client_reader, client_writer
                )
            else:
                status, failure = await self._relay(
                    route, head, peer, request_id, client_reader, client_writer
                )
                stays_open = False
            # One access line per forwarded request, in the shape of the tiers' own (`uo trace`).
            log(
                "access",
                request_id=request_id,
                method=head.method,
                path=head.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                upstream=f"{route.upstream_host}:{route.upstream_port}",
            )
            if failure is not None:
                await _answer(client_reader, client_writer, failure)
                return
            if not stays_open or self.stopping:
                await _linger(client_reader)
                return
            first = False

    async def _exchange(
        self,
        route: Route,
        head: RequestHead,
        peer: str,
        request_id: str,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> tuple[int, bytes | None, bytes, bool]:
        """Forward one framed request on a kept-alive upstream connection and relay its answer:
        its status, the uniform error to answer instead when the upstream gave none, the bytes
        read past the request (the next one's start) and whether the client connection stays
        open."""
        upstream_name = f"{route.upstream_host}:{route.upstream_port}"
        length = body_length(head)
        sent_with_head, buffered = head.rest[:length], head.rest[length:]
        outgoing = head.forwarded(peer, request_id, close=False) + sent_with_head
        repeatable = head.method in _SAFE_TO_REPEAT and length == 0
        # One bound for the first byte of the answer from the moment the request first goes
        # out, however often it is sent again (connecting anew included): a request the tier
        # held until it died is not given a second full wait on top.
        answer_due: float | None = None
        carried = b""  # what the client sent while an attempt waited: its next request
        while True:
            upstream = self.upstreams.take(route)
            reused = upstream is not None
            if upstream is None:
                bound = asyncio.timeout_at(answer_due)
                try:
                    async with bound:
                        upstream = Upstream(*await connect(route))
                except (OSError, TimeoutError) as exc:
                    if bound.expired():
                        log(
                            "upstream_timeout",
                            upstream=upstream_name,
                            seconds=RESPONSE_TIMEOUT_SECONDS,
                        )
                        return 504, _timeout_response(), b"", False
                    log("upstream_unavailable", upstream=upstream_name, error=type(exc).__name__)
                    return 503, unavailable_response(), b"", False
            if answer_due is None:
                answer_due = asyncio.get_running_loop().time() + RESPONSE_TIMEOUT_SECONDS
            kept = False
            watch = None
            try:
                upstream.writer.write(outgoing)
                watch = _ClientWatch(
                    client_reader, upstream.writer, length - len(sent_with_head), carried
                )
                try:
                    async with asyncio.timeout_at(answer_due):
                        answer = await _first_answer(upstream.reader, client_writer, watch)
                except TimeoutError:
                    seconds = RESPONSE_TIMEOUT_SECONDS
                    log("upstream_timeout", upstream=upstream_name, seconds=seconds)
                    return 504, _timeout_response(), b"", False
                except UpstreamFramingError as exc:
                    log("upstream_broke_answer", upstream=upstream_name, reason=str(exc))
                    return 502, _failed_response(), b"", False
                except (ConnectionError, OSError):
                    if watch.left:
                        raise  # the client is gone: nobody to answer
                    answer = None
                if answer is None:
                    if reused and repeatable and not watch.left:
                        # The idle connection was closing as the request went out, or the tier
                        # died holding it: again on a new connection, with what the client sent
                        # meanwhile kept for after it.
                        await watch.stop()
                        carried = watch.next
                        continue
                    log("upstream_closed_without_answer", upstream=upstream_name)
                    return 502, _failed_response(), b"", False
                # Answered before the whole body arrived: where a next request would start is
                # unknown, so this is the connection's last answer (and says so).
                last = not delimited(answer, head.method) or not watch.body_sent or self.stopping
                client_writer.write(answer.for_client(close=last))
                broke: Exception | None = None
                try:
                    async with silence_bounded(client_writer, RESPONSE_TIMEOUT_SECONDS) as progress:
                        try:
                            await relay_body(
                                answer, head.method, upstream.reader, client_writer, progress
                            )
                        except (UpstreamFramingError, ConnectionError, OSError) as exc:
                            broke = exc
                        else:
                            await client_writer.drain()  # a client gone now: as ever, no line
                except TimeoutError:
                    seconds = RESPONSE_TIMEOUT_SECONDS
                    log("upstream_stalled", upstream=upstream_name, seconds=seconds)
                    _cut(client_writer)
                    _cut(upstream.writer)
                    return answer.status, None, b"", False  # cut short: the client sees it close
                if broke is not None:
                    reason = str(broke) or type(broke).__name__
                    log("upstream_broke_answer", upstream=upstream_name, reason=reason)
                    return answer.status, None, b"", False  # cut short: the client sees it close
                await watch.stop()
                stays_open = not last and not watch.left
                if stays_open and answer.upstream_keeps_alive and upstream.quiet():
                    self.upstreams.give_back(route, upstream)
                    kept = True
                return answer.status, None, buffered + watch.next, stays_open
            finally:
                if watch is not None:
                    await watch.stop()
                if not kept:
                    upstream.close()

    async def _relay(
        self,
        route: Route,
        head: RequestHead,
        peer: str,
        request_id: str,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> tuple[int, bytes | None]:
        """The one-shot path: forward one request, relay bytes both ways until the upstream
        closes; its status, and the uniform error to answer instead when the upstream gave none."""
        upstream = f"{route.upstream_host}:{route.upstream_port}"
        try:
            up_reader, up_writer = await connect(route)
        except (OSError, TimeoutError) as exc:
            log("upstream_unavailable", upstream=upstream, error=type(exc).__name__)
            return 503, unavailable_response()
        try:
            up_writer.write(head.forwarded(peer, request_id) + head.rest)
            to_upstream = asyncio.create_task(_pipe(client_reader, up_writer))
            try:
                status, failure, cut = await _relay_answer(up_reader, client_writer, upstream)
                if cut:
                    _cut(up_writer)  # nor is a tier that stopped reading waited for
            finally:
                # The upstream has answered its one request: nothing more goes to it.
                to_upstream.cancel()
                await asyncio.gather(to_upstream, return_exceptions=True)
        finally:
            up_writer.close()
        return status, failure

    async def serve(self, stop: asyncio.Event) -> None:
        servers = []
        for route in self.routes:

            async def handler(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route = route
            ) -> None:
                await self.forward(route, reader, writer)

            servers.append(await asyncio.start_server(handler, "0.0.0.0", route.listen_port))  # noqa: S104
            log(
                "listening",
                port=route.listen_port,
                upstream=f"{route.upstream_host}:{route.upstream_port}",
            )
        await stop.wait()
        self.stopping = True
        for server in servers:
            server.close()
        for waiting in list(self.between_requests):
            waiting.cancel()  # nothing in flight on them
        if self.active:
            log("draining", connections=len(self.active))
            await asyncio.wait(set(self.active), timeout=DRAIN_SECONDS)
        self.upstreams.close()


async def _main(routes: list[Route]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Edge(routes).serve(stop)


def main() -> int:
    try:
        routes = parse_routes(os.environ.get("UO_EDGE_ROUTES", ""))
    except RouteError as exc:
        print(f"edge: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_main(routes))
    return 0


def entrypoint() -> None:
    sys.exit(main())
