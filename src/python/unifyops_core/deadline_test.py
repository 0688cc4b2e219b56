"""Deadlines end to end: a gateway and its downstream as real servers on loopback."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from unifyops_core import deadline
from unifyops_core.app import create_service_app
from unifyops_core.client import ServiceClient
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing_db import serve_on_loopback


def _settings(**overrides: Any) -> ServiceSettings:
    return ServiceSettings(service_name="demo-service", **overrides)


def _downstream() -> FastAPI:
    app = create_service_app(_settings(request_budget_ms=60_000), version="1")

    @app.get("/budget")
    async def budget(request: Request) -> dict[str, Any]:
        return {
            "header": request.headers.get(deadline.DEADLINE_HEADER),
            "remaining": deadline.remaining(),
        }

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"late": "yes"}

    return app


def _gateway(downstream_url: str, **settings: Any) -> FastAPI:
    app = create_service_app(_settings(**settings), version="1")
    client = ServiceClient(downstream_url, service="demo-downstream", timeout=5.0, backoff=0.01)

    @app.get("/v1/relay/{path}")
    async def relay(path: str) -> Any:
        return (await client.get(f"/{path}")).json()

    @app.get("/v1/mine")
    async def mine() -> dict[str, float | None]:
        return {"remaining": deadline.remaining()}

    return app


@pytest.fixture(scope="module")
def urls() -> Iterator[tuple[str, str]]:
    with serve_on_loopback(_downstream()) as downstream_url:
        gateway = _gateway(
            downstream_url, request_budget_ms=2_000, route_budgets_ms={"/v1/relay/slow": 400}
        )
        with serve_on_loopback(gateway) as gateway_url:
            yield gateway_url, downstream_url


async def test_the_first_tier_starts_the_budget_and_the_client_sends_what_is_left(
    urls: tuple[str, str],
) -> None:
    async with httpx.AsyncClient(base_url=urls[0]) as http:
        body = (await http.get("/v1/relay/budget")).json()
    # The downstream's own budget is 60 s, but it never extends the 2 s it was given.
    assert 1_000 < int(body["header"]) <= 2_000
    assert 1.0 < body["remaining"] <= 2.0


async def test_a_caller_may_shorten_the_budget_but_not_extend_it(urls: tuple[str, str]) -> None:
    async with httpx.AsyncClient(base_url=urls[0]) as http:
        shorter = (await http.get("/v1/mine", headers={deadline.DEADLINE_HEADER: "500"})).json()
        longer = (await http.get("/v1/mine", headers={deadline.DEADLINE_HEADER: "99999"})).json()
        junk = (await http.get("/v1/mine", headers={deadline.DEADLINE_HEADER: "soon"})).json()
    assert 0.3 < shorter["remaining"] <= 0.5
    assert 1.5 < longer["remaining"] <= 2.0
    assert 1.5 < junk["remaining"] <= 2.0


@pytest.mark.parametrize("value", ["0", "-250"])
async def test_an_expired_request_is_a_uniform_504_without_running(
    urls: tuple[str, str], value: str
) -> None:
    async with httpx.AsyncClient(base_url=urls[1]) as http:
        response = await http.get("/slow", headers={deadline.DEADLINE_HEADER: value})
    body = response.json()
    assert response.status_code == 504
    assert body["error_type"] == "deadline_exceeded"
    assert body["error_id"] == response.headers["X-Error-ID"]
    assert response.elapsed.total_seconds() < 1


async def test_health_endpoints_have_no_deadline(urls: tuple[str, str]) -> None:
    async with httpx.AsyncClient(base_url=urls[1]) as http:
        response = await http.get("/health/live", headers={deadline.DEADLINE_HEADER: "0"})
    assert response.status_code == 200


async def test_a_slow_dependency_costs_the_route_budget_not_the_client_timeout(
    urls: tuple[str, str],
) -> None:
    # The client's timeout is 5 s and the downstream takes 3 s; the route's budget is 0.4 s.
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=urls[0]) as http:
        response = await http.get("/v1/relay/slow")
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.json()["error_type"] == "deadline_exceeded"
    assert elapsed < 1.0


async def test_a_tier_stops_its_own_work_when_the_budget_it_was_given_is_spent(
    urls: tuple[str, str],
) -> None:
    # /slow takes 3 s; its caller can wait 0.3 s. The tier answers 504 then, instead of working
    # on for nobody (and holding what that work holds) until it would have finished.
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=urls[1]) as http:
        response = await http.get("/slow", headers={deadline.DEADLINE_HEADER: "300"})
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    body = response.json()
    assert body["error_type"] == "deadline_exceeded"
    assert body["error_id"] == response.headers["X-Error-ID"]
    assert 0.25 < elapsed < 1.0, elapsed


async def test_a_response_that_started_in_time_is_not_cut_off() -> None:
    app = create_service_app(_settings(request_budget_ms=200), version="1")

    @app.get("/stream")
    async def stream() -> Any:
        from starlette.responses import StreamingResponse

        async def chunks() -> Any:
            yield b"first "
            await asyncio.sleep(0.5)
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    with serve_on_loopback(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/stream")
    assert response.status_code == 200
    assert response.text == "first second"


async def test_a_route_that_outlives_its_budget_still_gets_its_own_answer_out() -> None:
    # Code that waits through the budget's cancellation (SQLAlchemy's close waits for its
    # ROLLBACK) and answers afterwards: its answer goes out, not a 500 from the middleware
    # rescheduling a budget that has expired already (found in review).
    app = create_service_app(_settings(request_budget_ms=200), version="1")

    @app.get("/stubborn")
    async def stubborn() -> dict[str, str]:
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            await asyncio.sleep(0.1)  # cleanup that runs to completion
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # as SQLAlchemy's drops it
        return {"done": "late"}

    with serve_on_loopback(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/stubborn")
    assert response.status_code == 200, response.text
    assert response.json() == {"done": "late"}
