"""Prometheus metrics of a tier, served on their own port so the public port never serves them.

Exported (one registry per app, so several apps in one process never collide):

- ``uo_http_requests_total{method, route, status}``: requests served; ``route`` is the route's
  template (``/users/{user_id}``), never the raw path, so ids do not explode the series count;
  a path no route matches is ``unmatched``.
- ``uo_http_request_errors_total{method, route, status, error_type}``: responses of 400 and up,
  by the uniform error shape's ``error_type`` (``unknown`` if no handler of ours wrote it).
- ``uo_http_request_duration_seconds{method, route}``: latency histogram.
- ``uo_http_requests_in_flight``: requests being served now.
- ``uo_client_calls_total{target, outcome}``: attempts of the tier's calls to another tier
  (``ServiceClient``), retries included; ``outcome`` is ok, client_error, server_error,
  unreachable or circuit_open (refused by the breaker, never sent). Calls per request show
  retries at work; circuit_open shows a dead dependency is not being hammered.
- ``uo_db_pool_size``, ``uo_db_pool_checked_out``, ``uo_db_pool_overflow``: the SQLAlchemy pool
  of a tier that owns a database, read at scrape time.
- ``uo_build_info{service_name, version, core_version, environment, image}``: always 1;
  ``image`` is the reference the process was started from (``UO_IMAGE``, set by the chart), so
  what runs can be compared with what infra/ wants.
- ``uo_ready``: 1 if the last readiness probe (``/health/ready``) passed, 0 if it failed; absent
  until the first probe. A cluster's kube-state-metrics says the same of the pod; this says it
  where none runs (``uo up``) and with the tier's own labels.
- the client library's ``process_*`` and ``python_*`` series.

``UO_METRICS_PORT`` (``ServiceSettings.metrics_port``) chooses the port; 0 (the default outside
a deployment) serves nothing and adds no middleware. The chart sets 9464 and lets only the
monitoring namespace reach it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unifyops_core._version import __version__ as core_version
from unifyops_core.context import capture_error_type, reset_error_type
from unifyops_core.health_checks import HealthRegistry

METRICS_PORT_NAME = "metrics"
UNMATCHED_ROUTE = "unmatched"
# Up to the longest request budget a tier gives (deadline.py: 10 s by default).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


class _PoolCollector:
    """Reads a SQLAlchemy pool when scraped: gauges that are never stale and cost nothing between
    scrapes. ``pool`` is anything with QueuePool's ``size()``, ``checkedout()``, ``overflow()``."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        readings = {
            "uo_db_pool_size": ("Connections the pool keeps open", self.pool.size),
            "uo_db_pool_checked_out": ("Connections in use by requests", self.pool.checkedout),
            # QueuePool counts from -pool_size (no connection opened yet); below 0 means none
            # beyond the steady size are open.
            "uo_db_pool_overflow": ("Connections open beyond the pool size", self.pool.overflow),
        }
        for name, (documentation, read) in readings.items():
            yield GaugeMetricFamily(name, documentation, value=float(read()))


class _ReadinessCollector:
    """``uo_ready`` from the last readiness verdict, read at scrape time (a scrape never runs
    the checks: probing the database is the probe's job, at the probe's period)."""

    def __init__(self, health: HealthRegistry) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        verdict = self.health.last_ready
        if verdict is not None:
            yield GaugeMetricFamily(
                "uo_ready", "1 if the last readiness probe passed", value=float(verdict)
            )


class TierMetrics:
    """The metrics of one app and the registry that holds them."""

    def __init__(
        self, *, service_name: str, version: str, environment: str, image: str = ""
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "uo_http_requests",
            "HTTP requests served, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "uo_http_request_errors",
            "HTTP responses of 400 and up, by the uniform error shape's error_type",
            ["method", "route", "status", "error_type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "uo_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "uo_http_requests_in_flight", "HTTP requests being served", registry=self.registry
        )
        self.calls = Counter(
            "uo_client_calls",
            "Attempts of calls to other tiers, retries included, by target and outcome",
            ["target", "outcome"],
            registry=self.registry,
        )
        Info("uo_build", "What this process runs", registry=self.registry).info(
            {
                "service_name": service_name,
                "version": version,
                "core_version": core_version,
                "environment": environment,
                "image": image,
            }
        )

    def watch_pool(self, pool: Any) -> None:
        """Export the gauges of a SQLAlchemy pool (``engine.pool``)."""
        self.registry.register(_PoolCollector(pool))

    def watch_readiness(self, health: HealthRegistry) -> None:
        """Export ``uo_ready``: the verdict of ``health``'s last readiness run."""
        self.registry.register(_ReadinessCollector(health))

    def observe_call(self, target: str, outcome: str) -> None:
        """A ServiceClient attempt (``ServiceClient.on_attempt``)."""
        self.calls.labels(target, outcome).inc()

    def observe(
        self, method: str, route: str, status: int, seconds: float, error_type: str | None
    ) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status >= 400:
            self.errors.labels(method, route, str(status), error_type or "unknown").inc()

    def lifespan(self, port: int, inner: Lifespan | None = None) -> Lifespan:
        """``inner`` (the app's own lifespan) wrapped in serving the registry on ``port``.

        The scrape server runs in a thread of its own: a busy event loop does not stop
        Prometheus from seeing that it is busy.
        """

        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[Any]:
            server, thread = start_http_server(port, registry=self.registry)
            try:
                if inner is None:
                    yield None
                else:
                    async with inner(app) as state:
                        yield state
            finally:
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)

        return lifespan


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (set by Starlette's router)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Counts and times every HTTP request; pure ASGI, so streaming responses are timed whole."""

    def __init__(self, app: ASGIApp, *, metrics: TierMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        holder, token = capture_error_type()

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            self.metrics.in_flight.dec()
            reset_error_type(token)
            self.metrics.observe(
                str(scope.get("method", "")),
                route_template(scope),
                status,
                time.perf_counter() - started,
                holder[-1] if holder else None,
            )


__all__ = [
    "LATENCY_BUCKETS",
    "METRICS_PORT_NAME",
    "UNMATCHED_ROUTE",
    "MetricsMiddleware",
    "TierMetrics",
    "route_template",
]
