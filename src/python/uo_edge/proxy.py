"""The local environment's front door: one TCP listener per published port, each forwarding to a
tier by its network alias (``8102=user-api:8002``).

It plays the part of the ingress controller for `uo up`: the only container on a network with
published ports, so the tiers themselves stay on internal networks. The upstream name is resolved
for every new connection and every address is tried, so a rolling update (new container joins the
alias, old one stops) moves traffic without the proxy being touched. When no upstream answers, the
caller gets the platform's uniform error shape with status 503 instead of a reset connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

CONNECT_TIMEOUT_SECONDS = 4.0
# Addresses are tried staggered, not one after another: during a rolling update the name can
# still resolve to a container that just stopped, whose address no longer answers at all.
HAPPY_EYEBALLS_DELAY = 0.25
CONNECT_ATTEMPTS = 2
DRAIN_SECONDS = 10.0
CHUNK = 64 * 1024


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


def unavailable_response(upstream: str) -> bytes:
    """An HTTP 503 in the uniform error shape (the edge only ever carries HTTP)."""
    error_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "status_code": 503,
            "message": f"{upstream} is not available",
            "error_id": error_id,
            "error_type": "dependency_unavailable",
            "timestamp": datetime.now(UTC).isoformat(),
            "details": {"upstream": upstream},
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Error-ID: {error_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def log(event: str, **fields: object) -> None:
    record = {"timestamp": datetime.now(UTC).isoformat(), "service": "edge", "event": event}
    print(json.dumps({**record, **fields}), flush=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still carry the response
    except (ConnectionError, OSError):
        writer.close()


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
                ),
                CONNECT_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError) as exc:
            failure = exc
    raise failure


class Edge:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self.active: set[asyncio.Task[None]] = set()

    async def forward(
        self, route: Route, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.active.add(task)
        upstream = f"{route.upstream_host}:{route.upstream_port}"
        try:
            try:
                up_reader, up_writer = await connect(route)
            except (OSError, TimeoutError) as exc:
                log("upstream_unavailable", upstream=upstream, error=type(exc).__name__)
                client_writer.write(unavailable_response(upstream))
                await client_writer.drain()
                return
            try:
                await asyncio.gather(
                    _pipe(client_reader, up_writer), _pipe(up_reader, client_writer)
                )
            finally:
                up_writer.close()
        except (ConnectionError, OSError):
            pass  # the caller went away; nothing to answer
        finally:
            client_writer.close()
            self.active.discard(task)

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
        for server in servers:
            server.close()
        if self.active:
            log("draining", connections=len(self.active))
            await asyncio.wait(set(self.active), timeout=DRAIN_SECONDS)


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
