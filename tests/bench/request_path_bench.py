"""What one request costs on each tier, side by side, on loopback. Prints figures; asserts nothing.

    UO_TEST_POSTGRES_DSN=postgresql://postgres@127.0.0.1:55432/postgres \\
    PYTHONPATH=src/python:tests "$VENV"/bin/python tests/bench/request_path_bench.py

($VENV: a virtualenv of the lockfile's requirements, e.g. from `./pants export`.)

The servers, each a uvicorn subprocess (the edge: its own asyncio proxy), against one fresh
PostgreSQL database holding one profile:

1. ``bare``: FastAPI + an asyncpg pool, the same SELECT, no auth and no middleware, on uvicorn's
   asyncio loop and h11 (the floor, as issue 16 measured it); ``bare-jwt``: the same plus PyJWT's
   RS256 verification of the bearer token per request; ``bare-production``: ``bare`` on core's
   ``server_config`` (uvloop + httptools, what every tier runs with);
2. ``service``: user-service called directly with a service token (the gateway's call);
3. ``chain``: user-api -> user-service -> PostgreSQL, ``GET /v1/profile`` with a user token;
4. ``edge``: the local front door (``uo_edge``) in front of ``chain``: the full chain.

One load generator for all: the closed loop (``--connections``, ``--seconds`` after a 2 s
warm-up) is run by wrk when it is installed (``--generator``), else by this process's asyncio
workers on one pooled httpx client (which cannot load the bare peer: ~2 000 req/s at most); then
``--fixed-rate`` (default half) of the closed loop's req/s is offered open-loop at a fixed rate by
this process for as long (raw requests on as many kept-alive connections), latency counted from
when each request was due ("n/a" when this process cannot keep the rate). CPU-ms per request is
the servers' own user+system time (``/proc/<pid>/stat``) over the closed-loop window divided by
the requests served (every tier's process for the chain and the edge); PostgreSQL's and the load
generator's CPU are not included.
A second table splits it per tier, with each tier's involuntary context switches per request (on
two shared cores every tier is preempted about once a request) and the rate the row would reach
if each tier had a core of its own (1 000 / the costliest tier's CPU-ms): service direct is bound
by one process on one core, the chain by every tier's CPU summed on two, so the target ratio
between them also depends on how the tiers share the machine. The last lines compare the rows
with issue 16's targets.

``--observability`` also runs user-service and user-api with Prometheus metrics on
(``UO_METRICS_PORT``), then metrics and traces written to the log (``UO_TRACES=log``), then
metrics and traces exported over OTLP (to a receiver in this process that discards them), each
measured right after the same tiers without either: the cost of operating them.

``--before CHECKOUT`` also starts user-service, user-api and the edge from another checkout (e.g. a
``git worktree`` or ``git archive`` of main) and measures each of them right before this checkout's,
so a before/after comparison sees the same machine load. ``--profile KIND`` runs that server
under cProfile (CPU time) and prints its top functions; its own figures then include the
profiler's overhead. ``--only KIND`` (repeatable) measures only those servers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request  # at module level: the peer's route annotation names it
from jwt.algorithms import RSAAlgorithm

SUBJECT = "bench-user"
KID = "bench-key"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The bare peers (the floor), then the tiers as deployed; "chain" is user-api -> user-service,
# "edge" the local front door in front of the chain.
PEERS = ("bare", "bare-jwt", "bare-production")
KINDS = (*PEERS, "service", "chain", "edge")
NAMES = {
    "bare": "bare FastAPI + asyncpg (asyncio + h11: the issue's peer)",
    "bare-jwt": "same + RS256 JWT verification per request (PyJWT)",
    "bare-production": "bare FastAPI + asyncpg on core's server config (uvloop + httptools)",
    "service": "user-service direct (service token)",
    "chain": "user-api -> user-service -> PostgreSQL",
    "edge": "edge -> user-api -> user-service -> PostgreSQL",
}
# The process each kind of row starts, as the per-tier table names it.
TIER_NAMES = {kind: kind for kind in PEERS} | {
    "service": "user-service",
    "chain": "user-api",
    "edge": "edge",
}
# The fixed-rate phase's figures count only if no request was sent later than this after it was
# due; past it they measure the Python generator, not the servers.
GENERATOR_SLACK_MS = 20.0
PROFILE_OUTPUT = os.path.join(tempfile.gettempdir(), "request_path_bench.prof")


# --- the servers (run as ``request_path_bench.py serve KIND PORT`` in a subprocess) -------------


def _mint(pem: bytes, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "unifyops-auth", "iat": now, "exp": now + 3600, **claims}
    return jwt.encode(payload, pem, algorithm="RS256", headers={"kid": KID})


def _bare_app(dsn: str, public_jwk: dict[str, Any] | None = None) -> Any:
    """The floor: the same SELECT on an asyncpg pool, nothing else; with ``public_jwk``, also
    PyJWT's RS256 verification of the bearer token on every request (the issue's peer + JWT)."""
    import asyncpg
    from fastapi import FastAPI, HTTPException

    pool: dict[str, Any] = {}
    app = FastAPI()
    key = RSAAlgorithm.from_jwk(json.dumps(public_jwk)) if public_jwk else None

    @app.on_event("startup")
    async def connect() -> None:
        pool["db"] = await asyncpg.create_pool(dsn, min_size=10, max_size=20)

    @app.get("/v1/profile/{subject}")
    async def profile(subject: str, request: Request) -> dict[str, Any]:
        if key is not None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            try:
                jwt.decode(token, key, algorithms=["RS256"], audience="user-service")  # type: ignore[arg-type]
            except jwt.PyJWTError as exc:
                raise HTTPException(401) from exc
        row = await pool["db"].fetchrow(
            "SELECT subject, email, display_name, timezone, preferences, version, created_at,"
            " updated_at FROM profiles WHERE subject = $1",
            subject,
        )
        return dict(row)

    return app


def _peer_config(app: Any, port: int) -> Any:
    """The issue's peer as it measured it: uvicorn on asyncio and h11, no logging."""
    import uvicorn

    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="h11",
        log_config=None,
        access_log=False,
    )


def _serve_edge(port: int) -> None:
    from uo_edge import proxy

    os.environ["UO_EDGE_ROUTES"] = f"{port}={os.environ['BENCH_EDGE_UPSTREAM']}"
    proxy.main()


def _serve(kind: str, port: int, profile: str | None = None) -> None:
    import uvicorn

    from unifyops_core.keys import StaticKeys
    from unifyops_core.service_cli import server_config
    from unifyops_core.service_tokens import ServiceTokenProvider

    if kind == "edge":
        _serve_edge(port)
        return
    pem = os.environ["BENCH_KEY_PEM"].encode()
    public_jwk = json.loads(os.environ["BENCH_PUBLIC_JWK"])
    jwks = StaticKeys([public_jwk])
    if kind in PEERS:
        app = _bare_app(os.environ["BENCH_DSN"], public_jwk if kind == "bare-jwt" else None)
    elif kind == "service":
        from unifyops.identity.user.user_service.config import Settings
        from unifyops.identity.user.user_service.main import create_app

        app = create_app(Settings(), keys=jwks)
    else:
        from unifyops.identity.user.user_api.config import Settings as ApiSettings
        from unifyops.identity.user.user_api.main import create_app as create_api

        class LocalTokens(ServiceTokenProvider):
            """Service tokens minted here, once per audience and cached as the real provider
            does: the auth stack is not what is measured (and loading the PEM is ~50 ms)."""

            minted: ClassVar[dict[str, str]] = {}

            async def token_for(self, audience: str) -> str:
                if audience not in self.minted:
                    self.minted[audience] = _mint(
                        pem, sub="user-api", aud=audience, token_use="service"
                    )
                return self.minted[audience]

        tokens = LocalTokens(token_url="http://unused", client_id="user-api", client_secret="x")
        settings = ApiSettings(service_url=os.environ["BENCH_SERVICE_URL"])
        app = create_api(settings, keys=jwks, token_provider=tokens)
    if kind in ("bare", "bare-jwt"):
        server = uvicorn.Server(_peer_config(app, port))
    else:  # core's production configuration (uvloop + httptools)
        server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port))
    if profile is None:
        server.run()
        return
    # uvicorn raises the SIGTERM it caught again once it has shut down; answered here, the
    # process returns normally and writes its profile. CPU time, not wall time: a coroutine's
    # cumulative wall time would include every await.
    signal.signal(signal.SIGTERM, lambda *_: None)
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(server.run)
    profiler.dump_stats(profile)


# --- the harness ----------------------------------------------------------------------------------


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms: float
    # (p50, p99) as wrk reports them, when wrk ran the closed loop (latencies_ms is then empty)
    percentiles: tuple[float, float] | None = None
    fixed_rate: float = 0.0  # requests/s offered in the fixed-rate phase (0: not run)
    fixed_latencies_ms: list[float] | None = None
    fixed_errors: int = 0
    generator_behind_ms: float = 0.0  # how late the fixed-rate generator sent at worst
    usage_by_pid: dict[int, tuple[float, int]] = field(default_factory=dict)  # see _usage
    tiers: dict[int, str] = field(default_factory=dict)  # pid -> the tier it serves

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def fixed_rate_valid(self) -> bool:
        """Whether this process kept the fixed rate (its raw-socket generator kept 3 000 req/s
        on time here; past GENERATOR_SLACK_MS late it measures itself)."""
        return self.generator_behind_ms <= GENERATOR_SLACK_MS

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_ms / max(self.requests, 1)

    def tier_row(self) -> str | None:
        """CPU-ms and involuntary context switches per request for each tier of a multi-tier row,
        and how fast the row could go if each tier had a core of its own."""
        if not self.usage_by_pid or not self.requests:
            return None
        cells = []
        for pid, (cpu, switches) in self.usage_by_pid.items():
            per_request = cpu / self.requests
            cells.append(
                f"{self.tiers.get(pid, pid)} {per_request:.2f} ms,"
                f" {switches / self.requests:.1f} preempted"
            )
        return f"| {self.name} | {' / '.join(cells)} | {self.core_per_tier_rate:,.0f} |"

    @property
    def core_per_tier_rate(self) -> float:
        costliest = max(cpu for cpu, _ in self.usage_by_pid.values()) / max(self.requests, 1)
        return 1000 / costliest if costliest else 0.0

    def row(self) -> str:
        ordered = sorted(self.latencies_ms)
        p50, p99 = self.percentiles or (_percentile(ordered, 0.5), _percentile(ordered, 0.99))
        closed = (
            f"| {self.name} | {self.rate:,.0f} | {p50:.1f} | {p99:.1f} "
            f"| {self.cpu_per_request:.2f} | {self.errors} "
        )
        if not self.fixed_rate:
            return closed + "|"
        fixed = sorted(self.fixed_latencies_ms or [])
        if not self.fixed_rate_valid:
            return closed + (
                f"| {self.fixed_rate:,.0f} | n/a: the generator fell "
                f"{self.generator_behind_ms:,.0f} ms behind | | |"
            )
        return closed + (
            f"| {self.fixed_rate:,.0f} | {_percentile(fixed, 0.5):.1f} "
            f"| {_percentile(fixed, 0.99):.1f} | {self.fixed_errors} |"
        )


def _usage(pids: list[int]) -> dict[int, tuple[float, int]]:
    """Per process: CPU-ms used so far (user + system) and involuntary context switches (the
    times it was preempted while it could have gone on running)."""
    usage = {}
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
        switches = re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M)
        cpu_ms = (int(fields[11]) + int(fields[12])) * 1000 / CLOCK_TICKS  # utime, stime
        usage[pid] = (cpu_ms, int(switches.group(1)) if switches else 0)
    return usage


def _usage_since(before: dict[int, tuple[float, int]]) -> dict[int, tuple[float, int]]:
    after = _usage(list(before))
    return {pid: (after[pid][0] - cpu, after[pid][1] - n) for pid, (cpu, n) in before.items()}


async def _load(
    url: str, headers: dict[str, str], connections: int, seconds: float, pids: list[int]
) -> tuple[int, int, list[float], float, dict[int, tuple[float, int]]]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        latencies: list[float] = []
        counts = {"ok": 0, "errors": 0}

        async def worker(deadline: float, record: bool) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(url, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if record:
                    latencies.append((time.perf_counter() - started) * 1000)
                    counts["ok" if ok else "errors"] += 1

        warm = time.perf_counter() + 2.0
        await asyncio.gather(*(worker(warm, False) for _ in range(connections)))
        usage_before, started = _usage(pids), time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(deadline, True) for _ in range(connections)))
        elapsed, usage = time.perf_counter() - started, _usage_since(usage_before)
    return counts["ok"], counts["errors"], latencies, elapsed, usage


_WRK_PERCENTILE = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _load_wrk(
    name: str, url: str, headers: dict[str, str], connections: int, seconds: float, pids: list[int]
) -> Result:
    """The closed loop run by wrk (C, one thread), as issue 16 measured: a load generator that
    costs the servers' two cores far less than this Python process does."""
    command = ["wrk", "-t1", f"-c{connections}", "--latency", "--timeout", "10s"]
    for header, value in headers.items():
        command += ["-H", f"{header}: {value}"]
    subprocess.run([*command, "-d2s", url], check=True, capture_output=True)  # warm-up
    usage_before, started = _usage(pids), time.perf_counter()
    output = subprocess.run(
        [*command, f"-d{seconds:.0f}s", url], check=True, capture_output=True, text=True
    ).stdout
    elapsed, usage = time.perf_counter() - started, _usage_since(usage_before)
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, socket.groups())) if socket else 0)
    found = {
        level: float(value) * _WRK_UNITS_MS[unit]
        for level, value, unit in _WRK_PERCENTILE.findall(output)
    }
    # wrk's own duration (it counts requests over -d) is close to the wall time measured here.
    return Result(
        name,
        total - (int(bad.group(1)) if bad else 0),
        errors,
        elapsed,
        [],
        sum(cpu for cpu, _ in usage.values()),
        percentiles=(found.get("50", 0.0), found.get("99", 0.0)),
        usage_by_pid=usage,
    )


class _OpenLoopConnection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection of the fixed-rate generator: raw bytes out, the status
    and Content-Length of each answer read back (every tier measured answers with a length).
    httpx cost this process ~1 ms of CPU a request, so it could not offer more than ~500 req/s
    on time; this costs a few tens of microseconds."""

    def __init__(self, done: Callable[[_OpenLoopConnection, float, bool], None]) -> None:
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due: float | None = None  # when the request in flight was due
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.due is None:
            return
        head = bytes(self.buffer[:end]).lower()
        length = re.search(rb"\r\ncontent-length: *(\d+)", head)
        if length is None:
            self._finish(ok=False)  # not what the tiers answer: counted as an error
            self.transport.close()  # type: ignore[union-attr]
            return
        total = end + 4 + int(length.group(1))
        if len(self.buffer) < total:
            return
        ok = head.startswith(b"http/1.1 200 ")
        del self.buffer[:total]
        self._finish(ok)

    def _finish(self, ok: bool) -> None:
        due, self.due = self.due, None
        assert due is not None
        self.done(self, due, ok)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.due is not None:
            self._finish(ok=False)


async def _fixed_rate(
    url: str, headers: dict[str, str], rate: float, seconds: float, connections: int
) -> tuple[list[float], int, float]:
    """Open loop: a request every 1/rate s whether or not earlier ones have been answered.

    Latency runs from when a request was due, not from when it was sent, so a generator or a
    server that falls behind shows up in the figures instead of quietly lowering the rate. As
    many kept-alive connections as the closed loop used; a request due while all are busy waits
    for the first one free (and that wait counts). Also returns how late (ms) the generator itself
    was in handling a due request: past a few ms the figures measure this process, not the
    servers.
    """
    target = httpx.URL(url)
    lines = [f"GET {target.raw_path.decode()} HTTP/1.1", f"Host: {target.netloc.decode()}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    behind = 0.0
    # Taken in turn (oldest idle first), so none idles into the server's keep-alive timeout.
    idle: collections.deque[_OpenLoopConnection] = collections.deque()
    waiting: collections.deque[float] = collections.deque()  # due times of requests not yet sent
    total = int(rate * seconds)
    finished = loop.create_future()
    answered = 0

    def done(connection: _OpenLoopConnection, due: float, ok: bool) -> None:
        nonlocal errors, answered
        answered += 1
        if ok:
            latencies.append((time.perf_counter() - due) * 1000)
        else:
            errors += 1
        if connection.closed:
            opening.append(asyncio.ensure_future(connect()))  # a replacement, for later requests
        elif waiting:
            connection.send(request, waiting.popleft())
        else:
            idle.append(connection)
        if answered == total and not finished.done():
            finished.set_result(None)

    async def connect() -> None:
        _, connection = await loop.create_connection(
            lambda: _OpenLoopConnection(done), target.host, target.port or 80
        )
        opened.append(connection)
        if waiting:
            connection.send(request, waiting.popleft())
        else:
            idle.append(connection)

    def free_connection() -> _OpenLoopConnection | None:
        while idle:
            connection = idle.popleft()
            if not connection.closed:
                return connection
            opening.append(asyncio.ensure_future(connect()))  # the server closed an idle one
        return None

    opened: list[_OpenLoopConnection] = []
    opening: list[asyncio.Future[None]] = []
    await asyncio.gather(*(connect() for _ in range(connections)))
    # The generator's own collector pauses would be charged to the server: none while due.
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter() + 0.1
        for number in range(total):
            due = start + number / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            behind = max(behind, (time.perf_counter() - due) * 1000)
            if len(waiting) > 8 * connections:
                # The servers cannot keep the rate: stop offering more than a bounded queue.
                behind = max(behind, GENERATOR_SLACK_MS + 1)
                errors += total - number
                break
            connection = free_connection()
            if connection is not None:
                connection.send(request, due)
            else:
                waiting.append(due)
        else:
            try:
                await asyncio.wait_for(finished, timeout=30)
            except TimeoutError:
                errors += total - answered
    finally:
        gc.enable()
        for pending in opening:
            pending.cancel()
        for connection in opened:
            if connection.transport is not None:
                connection.transport.close()
    return latencies, errors, behind


def _start(
    kind: str, port: int, env: dict[str, str], profile: str | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "serve", kind, str(port)]
    if profile:
        command.append(profile)
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url} exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def _bench(
    connections: int,
    seconds: float,
    only: list[str],
    profile: str | None,
    before: str | None,
    observability: bool,
    fixed_fraction: float,
    generator: str,
) -> list[Result]:
    from unifyops.identity.user.user_service.config import Settings
    from unifyops.identity.user.user_service.main import migrate
    from unifyops_core.testing_db import create_test_database, drop_test_database, free_port

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": KID, "alg": "RS256"}
    database = await create_test_database()
    processes: list[subprocess.Popen[bytes]] = []
    # Each tier's code as checked out here ("after") and, with --before, as in that checkout;
    # with --observability, this checkout with metrics and traces on.
    here = os.environ.get("PYTHONPATH", "")
    variants: dict[str, tuple[str, dict[str, str]]] = {"": (here, {})}
    if before:
        variants = {"before: ": (before, {}), "": variants[""]}
    receiver = None
    if observability:
        receiver = _otlp_receiver()
        otlp = f"http://127.0.0.1:{receiver.server_port}"
        variants |= {
            "metrics: ": (here, {"UO_METRICS_PORT": "auto"}),
            "metrics + traces (log): ": (here, {"UO_METRICS_PORT": "auto", "UO_TRACES": "log"}),
            "metrics + traces (OTLP): ": (
                here,
                {"UO_METRICS_PORT": "auto", "UO_TRACES": "otlp", "UO_OTLP_ENDPOINT": otlp},
            ),
        }
    labels = {label: pythonpath for label, (pythonpath, _) in variants.items()}
    try:
        await asyncio.to_thread(migrate, Settings(database=database))
        base_env = {
            **os.environ,
            "BENCH_KEY_PEM": pem.decode(),
            "BENCH_PUBLIC_JWK": json.dumps(public),
            "BENCH_DSN": database.url(driver="postgresql").render_as_string(hide_password=False),
            "UO_ENVIRONMENT": "development",
            "UO_LOG_LEVEL": "INFO",
            **{f"UO_DATABASE__{k.upper()}": str(v) for k, v in _db_env(database).items()},
        }
        ports: dict[tuple[str, str], int] = {}
        started: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        for label, pythonpath in labels.items():
            for kind in KINDS:
                if label and (kind in PEERS or (kind == "edge" and label != "before: ")):
                    continue  # one floor for all variants; an edge per checkout
                port = ports[kind, label] = free_port()
                service_url = (
                    f"http://127.0.0.1:{ports['service', label]}" if kind == "chain" else ""
                )
                env = {**base_env, "PYTHONPATH": pythonpath, "BENCH_SERVICE_URL": service_url}
                if kind == "edge":
                    env["BENCH_EDGE_UPSTREAM"] = f"127.0.0.1:{ports['chain', label]}"
                for name, value in variants[label][1].items():
                    env[name] = str(free_port()) if value == "auto" else value
                output = PROFILE_OUTPUT if kind == profile and not label else None
                started[kind, label] = _start(kind, port, env, output)
                processes.append(started[kind, label])
        for server, port in ports.items():
            await asyncio.to_thread(
                _wait_ready, f"http://127.0.0.1:{port}/", started[server]
            )  # any answer will do
        user_token = _mint(pem, sub=SUBJECT, aud="unifyops", email=f"{SUBJECT}@example.com")
        service_token = _mint(pem, sub="user-api", aud="user-service", token_use="service")
        async with httpx.AsyncClient() as client:
            first = await client.get(
                f"http://127.0.0.1:{ports['chain', '']}/v1/profile",
                headers={"Authorization": f"Bearer {user_token}"},
            )
        first.raise_for_status()  # creates the profile every scenario reads
        scenarios = []
        for kind in KINDS:
            for label in labels:
                if (kind, label) not in ports or (only and kind not in only):
                    continue
                url = f"http://127.0.0.1:{ports[kind, label]}"
                tiers = [kind]
                if kind in PEERS:
                    url, token = f"{url}/v1/profile/{SUBJECT}", service_token
                elif kind == "service":
                    url, token = f"{url}/internal/profiles/{SUBJECT}", service_token
                else:  # chain, or the edge in front of it: user-api's public route
                    url, token = f"{url}/v1/profile", user_token
                    tiers.append("service")
                    if kind == "edge":
                        tiers.append("chain")
                name = NAMES[kind]
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                scenarios.append((f"{label}{name}", url, headers, label, tiers))
        results = []
        for name, url, headers, label, tiers in scenarios:
            pids = [started[tier, label].pid for tier in tiers]
            if generator == "wrk":
                result = await asyncio.to_thread(
                    _load_wrk, name, url, headers, connections, seconds, pids
                )
            else:
                ok, errors, latencies, elapsed, usage = await _load(
                    url, headers, connections, seconds, pids
                )
                cpu = sum(cpu for cpu, _ in usage.values())
                result = Result(name, ok, errors, elapsed, latencies, cpu, usage_by_pid=usage)
            result.tiers = {started[tier, label].pid: TIER_NAMES[tier] for tier in tiers}
            ok = result.requests
            if fixed_fraction > 0 and ok:
                result.fixed_rate = fixed_fraction * result.rate
                (
                    result.fixed_latencies_ms,
                    result.fixed_errors,
                    result.generator_behind_ms,
                ) = await _fixed_rate(url, headers, result.fixed_rate, seconds, connections)
            results.append(result)
        return results
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        await drop_test_database(database)
        if receiver is not None:
            receiver.shutdown()


def _otlp_receiver() -> ThreadingHTTPServer:
    """Accepts OTLP/HTTP posts and drops them (a collector's intake, not what is measured)."""

    class Discard(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _db_env(database: Any) -> dict[str, Any]:
    fields = ("host", "port", "user", "name")
    values = {field: getattr(database, field) for field in fields}
    values["password"] = database.password.get_secret_value()
    return values


def _against_targets(results: dict[str, Result]) -> list[str]:
    """Issue 16's targets, computed from this run's rows (whichever of them were measured)."""
    peer, jwt_peer = results.get(NAMES["bare"]), results.get(NAMES["bare-jwt"])
    service, edge = results.get(NAMES["service"]), results.get(NAMES["edge"])
    lines = ["", "against the targets:"]
    if peer and service and peer.rate:
        lines.append(
            f"- service direct req/s = {100 * service.rate / peer.rate:.0f} % of the peer's"
            " (target >= 70 %)"
        )
    if jwt_peer and service and jwt_peer.requests:
        lines.append(
            f"- service CPU-ms/request = {service.cpu_per_request / jwt_peer.cpu_per_request:.2f}"
            " x the peer + JWT (target <= 1.5 x)"
        )
    if edge and service and service.rate:
        lines.append(
            f"- full chain (edge) req/s = {100 * edge.rate / service.rate:.0f} % of service"
            " direct (target >= 60 %)"
        )
    if edge and service and edge.core_per_tier_rate and service.core_per_tier_rate:
        ratio = edge.core_per_tier_rate / service.core_per_tier_rate
        lines.append(
            f"  (with a core per tier, {100 * ratio:.0f} %: the costliest tier of the chain against"
            " user-service's own CPU-ms a request, apart from how the tiers share two cores)"
        )
    if edge and edge.fixed_latencies_ms and edge.fixed_rate_valid:
        p99 = _percentile(sorted(edge.fixed_latencies_ms), 0.99)
        lines.append(
            f"- full chain p99 at {edge.fixed_rate:,.0f} req/s (fixed) = {p99:.1f} ms"
            " (target <= 50 ms at 50 % of its throughput)"
        )
    return lines if len(lines) > 2 else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--only", action="append", choices=KINDS, default=[], help="measure only these (repeatable)"
    )
    parser.add_argument(
        "--profile",
        choices=KINDS,
        help=f"run this server under cProfile and print where its time went ({PROFILE_OUTPUT});"
        " its figures then include the profiler's overhead",
    )
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="also run user-service, user-api and the edge from this checkout (e.g. a git"
        " worktree of main), measured right before this checkout's, so both see the same machine",
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="also run user-service and user-api with metrics, then metrics and traces (log, then"
        " OTLP), each beside the same tiers without",
    )
    parser.add_argument(
        "--fixed-rate",
        type=float,
        default=0.5,
        metavar="FRACTION",
        help="after each closed loop, offer this fraction of its req/s at a fixed rate (open"
        " loop) for as long and report that latency (default 0.5; 0 skips it)",
    )
    parser.add_argument(
        "--generator",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="what runs the closed loop: wrk (default when installed; apt-get install wrk) or"
        " this process's asyncio workers; the fixed-rate phase is always this process",
    )
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.command[:1] == ["serve"]:
        _serve(options.command[1], int(options.command[2]), *options.command[3:])
        return 0
    before = options.before and str(Path(options.before).resolve() / "src" / "python")
    results = asyncio.run(
        _bench(
            options.connections,
            options.seconds,
            options.only,
            options.profile,
            before,
            options.observability,
            options.fixed_rate,
            options.generator,
        )
    )
    print(
        f"{options.connections} connections, {options.seconds:.0f} s closed loop"
        f" ({options.generator}) after 2 s warm-up;"
        f" then {options.fixed_rate:.0%} of that rate, open loop, for {options.seconds:.0f} s"
    )
    print(
        "| what | req/s | p50 ms | p99 ms | server CPU-ms/request | errors "
        "| fixed req/s | fixed p50 ms | fixed p99 ms | fixed errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())
    tier_rows = [row for result in results if (row := result.tier_row())]
    if tier_rows:
        print(
            "\nPer tier, CPU-ms a request (user + system) and involuntary context switches a"
            " request (preempted while runnable: the tiers share the machine's cores); the last"
            " column is 1 000 / the costliest tier's CPU-ms, the row's req/s if each tier had a"
            " core of its own:"
        )
        print("| what | per tier | req/s with a core per tier |")
        print("|---|---|---|")
        for row in tier_rows:
            print(row)
    for line in _against_targets({r.name: r for r in results}):
        print(line)
    if options.profile:
        stats = pstats.Stats(PROFILE_OUTPUT)
        for order in ("tottime", "cumulative"):
            print(f"\n{options.profile}: top 30 by {order}")
            stats.sort_stats(order).print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
