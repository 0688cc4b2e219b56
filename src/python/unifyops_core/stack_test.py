"""Where a service tier gets the keys it checks service tokens with; what a gateway's client tells
its metrics."""

from __future__ import annotations

import socket
from typing import NoReturn

import fastapi.dependencies.utils
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families

from unifyops_core.keys import JwksKeys, StaticKeys
from unifyops_core.naming import Component
from unifyops_core.stack import (
    GatewayTierSettings,
    ServiceDep,
    ServiceTierSettings,
    create_gateway_tier,
)


def test_a_jwks_url_means_fetched_and_cached_keys() -> None:
    settings = ServiceTierSettings(
        service_name="user-service", jwks_url="http://auth-api:8002/.well-known/jwks.json"
    )
    assert isinstance(settings.trusted_keys(), JwksKeys)


def test_without_a_url_the_configured_keys_are_trusted() -> None:
    assert isinstance(ServiceTierSettings(service_name="user-service").trusted_keys(), StaticKeys)


async def test_the_service_client_dependency_needs_no_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A plain ``def`` dependency is run through the thread pool on every request; ServiceDep is
    # resolved on the event loop, so a gateway route works with the pool out of reach.
    def no_threads(*_: object, **__: object) -> NoReturn:
        raise AssertionError("a dependency was run in the thread pool")

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", no_threads)
    router = APIRouter()

    @router.get("/which")
    async def which(service: ServiceDep) -> dict[str, str]:
        return {"service": service.service}

    app = create_gateway_tier(
        Component("user", "api"),
        GatewayTierSettings(service_name="user-api", service_url="http://user-service:8001"),
        version="0.0.0-test",
        routers=[router],
        keys=StaticKeys([]),
        relay_sessions=False,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/which")
    assert response.status_code == 200, response.text
    assert response.json() == {"service": "user-service"}


async def test_a_gateway_counts_its_calls_to_the_service_by_outcome() -> None:
    downstream = FastAPI()

    @downstream.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    router = APIRouter()

    @router.get("/relay")
    async def relay(service: ServiceDep) -> dict[str, bool]:
        answer = await service.get("/ping", authenticate=False)
        return {"relayed": bool(answer.json()["ok"])}

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_gateway_tier(
        Component("user", "api"),
        GatewayTierSettings(
            service_name="user-api", service_url="http://user-service:8001", metrics_port=port
        ),
        version="0.0.0-test",
        routers=[router],
        keys=StaticKeys([]),
        relay_sessions=False,
        service_transport=httpx.ASGITransport(app=downstream),
    )
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        assert (await c.get("/relay")).json() == {"relayed": True}
        assert (await c.get("/relay")).json() == {"relayed": True}
        async with httpx.AsyncClient() as scrape:
            scraped = (await scrape.get(f"http://127.0.0.1:{port}/metrics")).text
    calls = {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "uo_client_calls_total"
    }
    assert calls == {(("outcome", "ok"), ("target", "user-service")): 2.0}
