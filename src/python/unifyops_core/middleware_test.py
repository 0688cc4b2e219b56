import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from loguru import logger

from unifyops_core.context import current_request_id
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.middleware import RequestContextMiddleware
from unifyops_core.testing import capture_logs


def build_app() -> FastAPI:
    app = FastAPI()
    register_exception_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/work")
    async def work() -> dict[str, str | None]:
        logger.info("doing work")
        return {"seen_request_id": current_request_id()}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_incoming_request_id_is_used_echoed_and_bound_to_log_lines(
    client: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        response = await client.get("/work", headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    assert response.json() == {"seen_request_id": "req-123"}
    ours = [r for r in logs.records if r["logger"].startswith(("unifyops_core", "tests", __name__))]
    assert len(ours) == 2  # the route's line and the access line
    assert {record["request_id"] for record in ours} == {"req-123"}


async def test_a_new_request_id_is_made_when_none_or_a_malformed_one_is_sent(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, {"X-Request-ID": "bad id\twith spaces"}, {"X-Request-ID": "x" * 500}):
        response = await client.get("/work", headers=headers)
        assert uuid.UUID(response.headers["X-Request-ID"])


async def test_one_access_line_per_request(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        await client.get("/work")
        await client.get("/missing")
    access = [r for r in logs.records if "duration_ms" in r.get("extra", {})]
    assert [(r["extra"]["method"], r["extra"]["path"], r["extra"]["status"]) for r in access] == [
        ("GET", "/work", 200),
        ("GET", "/missing", 404),
    ]
    assert all(r["extra"]["duration_ms"] >= 0 for r in access)


async def test_unhandled_errors_keep_request_id_and_uniform_shape(
    client: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        response = await client.get("/crash", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-500"
    assert response.json()["error_type"] == "internal_error"
    assert "secret internals" not in response.text
    (failure,) = logs.find(error_id=response.json()["error_id"])
    assert failure["request_id"] == "req-500"


async def test_request_id_does_not_leak_between_requests(client: httpx.AsyncClient) -> None:
    await client.get("/work", headers={"X-Request-ID": "first"})
    assert current_request_id() is None
