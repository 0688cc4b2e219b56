"""Metrics of a real app: counted through its ASGI stack, served over HTTP on their own port."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from unifyops_core import __version__ as core_version
from unifyops_core.app import create_service_app
from unifyops_core.db import Database
from unifyops_core.exceptions import RecordNotFoundError
from unifyops_core.health import HealthRegistry
from unifyops_core.keys import StaticKeys
from unifyops_core.metrics import LATENCY_BUCKETS, MetricsMiddleware, TierMetrics
from unifyops_core.naming import Component
from unifyops_core.settings import ServiceSettings
from unifyops_core.stack import ServiceTierSettings, create_service_tier
from unifyops_core.testing_db import fresh_database


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


READY = {"ok": True}


async def _switch_check() -> None:
    if not READY["ok"]:
        raise ConnectionError("dependency gone")


def build_app(port: int) -> FastAPI:
    settings = ServiceSettings(
        service_name="demo-service",
        metrics_port=port,
        image="registry.test/demo@sha256:" + "a" * 64,
    )
    health = HealthRegistry()
    health.add("switch", lambda: _switch_check())
    app = create_service_app(settings, version="1.2.3", health=health)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id != 1:
            raise RecordNotFoundError("Item not found")
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unplanned")

    return app


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(the public app in process, the metrics port over real HTTP)."""
    port = free_port()
    app = build_app(port)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
        ) as public,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scrape,
    ):
        yield public, scrape


async def samples(scrape: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await scrape.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_requests_errors_and_latency_are_counted_by_route_template(
    served: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    public, scrape = served
    before = await samples(scrape)
    assert (await public.get("/items/1")).status_code == 200
    assert (await public.get("/items/1")).status_code == 200
    assert (await public.get("/items/7")).status_code == 404
    assert (await public.get("/nowhere/at/all")).status_code == 404
    assert (await public.get("/items/x")).status_code == 422
    assert (await public.get("/boom")).status_code == 500
    after = await samples(scrape)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/items/{item_id}"
    total = "uo_http_requests_total"
    errors = "uo_http_request_errors_total"
    assert delta(total, method="GET", route=route, status="200") == 2
    assert delta(total, method="GET", route=route, status="404") == 1
    assert (
        delta(errors, method="GET", route=route, status="404", error_type="db_record_not_found")
        == 1
    )
    # An unknown path is one series, whatever the path was.
    assert delta(errors, method="GET", route="unmatched", status="404", error_type="not_found") == 1
    assert (
        delta(errors, method="GET", route=route, status="422", error_type="validation_error") == 1
    )
    assert (
        delta(errors, method="GET", route="/boom", status="500", error_type="internal_error") == 1
    )
    assert not any(name == errors and ("status", "200") in labels for name, labels in after)

    histogram = "uo_http_request_duration_seconds"
    assert delta(f"{histogram}_count", method="GET", route=route) == 4
    assert delta(f"{histogram}_bucket", method="GET", route=route, le="+Inf") == 4
    buckets = [
        value(after, f"{histogram}_bucket", method="GET", route=route, le=str(float(le)))
        for le in LATENCY_BUCKETS
    ]
    assert buckets == sorted(buckets)  # cumulative
    assert buckets[-1] == 4  # an in-process request takes well under 10 s
    assert delta(f"{histogram}_sum", method="GET", route=route) > 0
    assert value(after, "uo_http_requests_in_flight") == 0


async def test_build_info_names_the_service_and_the_core_version(
    served: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, scrape = served
    found = await samples(scrape)
    info = {
        dict(labels)["service_name"]: dict(labels)
        for name, labels in found
        if name == "uo_build_info"
    }
    assert info["demo-service"] == {
        "service_name": "demo-service",
        "version": "1.2.3",
        "core_version": core_version,
        "environment": "development",
        "image": "registry.test/demo@sha256:" + "a" * 64,
    }
    assert any(name.startswith("process_") for name, _ in found)


async def test_uo_ready_follows_the_last_readiness_probe(
    served: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    public, scrape = served
    assert not any(name == "uo_ready" for name, _ in await samples(scrape))  # no probe yet
    READY["ok"] = False
    try:
        assert (await public.get("/health/ready")).status_code == 503
        assert value(await samples(scrape), "uo_ready") == 0
    finally:
        READY["ok"] = True
    assert (await public.get("/health/ready")).status_code == 200
    assert value(await samples(scrape), "uo_ready") == 1


async def test_the_public_port_never_serves_metrics(
    served: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    public, _ = served
    response = await public.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error_type"] == "not_found"
    assert "uo_http_requests_total" not in response.text


async def test_the_metrics_port_closes_with_the_app() -> None:
    port = free_port()
    app = build_app(port)
    async with LifespanManager(app), httpx.AsyncClient() as scrape:
        assert (await scrape.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as scrape:
            await scrape.get(f"http://127.0.0.1:{port}/metrics")


async def test_the_callers_lifespan_still_runs() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    settings = ServiceSettings(service_name="demo-service", metrics_port=free_port())
    app = create_service_app(settings, version="1", lifespan=lifespan)
    async with LifespanManager(app):
        assert events == ["start"]
    assert events == ["start", "stop"]


def test_port_zero_adds_nothing() -> None:
    app = create_service_app(ServiceSettings(service_name="demo-service"), version="1")
    assert app.state.metrics is None
    assert MetricsMiddleware.__name__ not in {
        getattr(m.cls, "__name__", "") for m in app.user_middleware
    }


async def test_pool_gauges_follow_checkouts() -> None:
    metrics = TierMetrics(service_name="demo-service", version="1", environment="test")
    async with fresh_database() as settings:
        database = Database(settings.model_copy(update={"pool_size": 3}))
        metrics.watch_pool(database.engine.pool)
        gauge = metrics.registry.get_sample_value
        try:
            assert gauge("uo_db_pool_size") == 3
            assert gauge("uo_db_pool_checked_out") == 0
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                assert gauge("uo_db_pool_checked_out") == 1
            assert gauge("uo_db_pool_checked_out") == 0
        finally:
            await database.dispose()


async def test_two_apps_in_one_process_keep_their_own_registries() -> None:
    first = TierMetrics(service_name="a", version="1", environment="test")
    second = TierMetrics(service_name="b", version="1", environment="test")
    first.observe("GET", "/x", 200, 0.01, None)
    assert (
        first.registry.get_sample_value(
            "uo_http_requests_total", {"method": "GET", "route": "/x", "status": "200"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "uo_http_requests_total", {"method": "GET", "route": "/x", "status": "200"}
        )
        is None
    )


async def test_a_service_tier_exports_its_pool_and_counts_refused_callers() -> None:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    port = free_port()
    async with fresh_database() as database_settings:
        settings = ServiceTierSettings(
            service_name="user-service", database=database_settings, metrics_port=port
        )
        app = create_service_tier(
            Component("user", "service"),
            settings,
            version="1",
            routers=[router],
            keys=StaticKeys([]),
        )
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
            ) as public,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scrape,
        ):
            assert (await public.get("/health/ready")).status_code == 200  # one DB round trip
            refused = await public.get("/things/3")  # no service token
            assert refused.status_code == 401
            found = await samples(scrape)
    assert value(found, "uo_db_pool_size") == database_settings.pool_size
    assert value(found, "uo_db_pool_checked_out") == 0
    labels = {
        "method": "GET",
        "route": "/things/{thing_id}",
        "status": "401",
        "error_type": refused.json()["error_type"],
    }
    assert value(found, "uo_http_request_errors_total", **labels) == 1
    assert (
        value(
            found,
            "uo_build_info",
            service_name="user-service",
            version="1",
            core_version=core_version,
            environment="development",
            image="",
        )
        == 1
    )
    assert value(found, "uo_ready") == 1  # the probe above passed
