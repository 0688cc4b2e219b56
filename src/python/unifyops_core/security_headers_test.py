from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Response

from unifyops_core.app import create_service_app
from unifyops_core.security_headers import HSTS_VALUE
from unifyops_core.settings import ServiceSettings


def build_app() -> FastAPI:
    app = create_service_app(ServiceSettings(service_name="demo-api"), version="1")

    @app.get("/me")
    async def me() -> dict[str, str]:
        return {"email": "ada@example.com"}

    @app.get("/public")
    async def public(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "public, max-age=60"
        return {"hello": "world"}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app()), base_url="http://t"
    ) as client:
        yield client


@pytest.mark.parametrize("path", ["/me", "/nowhere", "/health/live"])
async def test_every_answer_says_nosniff(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("credentials", [{"Authorization": "Bearer t"}, {"Cookie": "uo_session=s"}])
async def test_answers_to_authenticated_requests_are_not_stored(
    http: httpx.AsyncClient, credentials: dict[str, str]
) -> None:
    assert (await http.get("/me", headers=credentials)).headers["Cache-Control"] == "no-store"
    missing = await http.get("/nowhere", headers=credentials)
    assert missing.headers["Cache-Control"] == "no-store"


async def test_anonymous_answers_and_a_routes_own_policy_are_left_alone(
    http: httpx.AsyncClient,
) -> None:
    assert "Cache-Control" not in (await http.get("/me")).headers
    own = await http.get("/public", headers={"Authorization": "Bearer t"})
    assert own.headers["Cache-Control"] == "public, max-age=60"


async def test_hsts_only_when_the_client_came_over_tls(http: httpx.AsyncClient) -> None:
    assert "Strict-Transport-Security" not in (await http.get("/me")).headers
    proxied = await http.get("/me", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["Strict-Transport-Security"] == HSTS_VALUE
    inner_hop = await http.get("/me", headers={"X-Forwarded-Proto": "http, https"})
    assert "Strict-Transport-Security" not in inner_hop.headers
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app()), base_url="https://t"
    ) as tls:
        assert (await tls.get("/me")).headers["Strict-Transport-Security"] == HSTS_VALUE
