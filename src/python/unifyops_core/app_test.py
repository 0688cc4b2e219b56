from collections.abc import AsyncIterator
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI

import unifyops_core
from unifyops_core import (
    app,
    client,
    compat,
    context,
    db,
    desired_state,
    error_shape,
    exceptions,
    handlers,
    health,
    hostile_input,
    keys,
    logs,
    metrics,
    middleware,
    migrations,
    naming,
    redaction,
    request_guard,
    security,
    security_headers,
    service_cli,
    service_tokens,
    settings,
    stack,
    testing,
    testing_db,
    tokens,
)
from unifyops_core.app import create_service_app
from unifyops_core.exceptions import NotFoundError
from unifyops_core.health import HealthRegistry
from unifyops_core.settings import ServiceSettings

UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}


def build_app() -> FastAPI:
    health = HealthRegistry()

    async def always_ok() -> None:
        return None

    health.add("noop", always_ok)
    app = create_service_app(
        ServiceSettings(service_name="demo-service"), version="1.2.3", health=health
    )

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id != 1:
            raise NotFoundError("Item not found")
        return {"id": item_id}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app()), base_url="http://t"
    ) as http:
        yield http


async def test_factory_wires_health_errors_and_request_ids(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health/live")).status_code == 200
    assert (await http.get("/health/ready")).json()["checks"] == {"noop": "ok"}
    missing = await http.get("/items/2")
    assert missing.json()["error_type"] == "not_found"
    assert missing.headers["X-Request-ID"]


async def test_openapi_declares_the_error_shape(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert spec["info"] == {"title": "demo-service", "version": "1.2.3"}
    responses = spec["paths"]["/items/{item_id}"]["get"]["responses"]
    for status in ("401", "404", "422", "500"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    required = spec["components"]["schemas"]["ErrorResponse"]["required"]
    assert set(required) == {"status_code", "message", "error_id", "error_type", "timestamp"}


@pytest.mark.parametrize("environment", ["staging", "prod"])
async def test_api_docs_are_not_served_where_real_users_are(environment: str) -> None:
    settings = ServiceSettings(service_name="demo-api", environment=environment)
    app = create_service_app(settings, version="1", docs_url="/docs")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response = await http.get(path)
            assert response.status_code == 404, path
            assert set(response.json()) >= UNIFORM_KEYS


@pytest.mark.parametrize("environment", ["development", "test", "local", "dev"])
async def test_api_docs_are_served_to_developers(environment: str) -> None:
    settings = ServiceSettings(service_name="demo-api", environment=environment)
    app = create_service_app(settings, version="1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(path)).status_code == 200, path


def isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else."""
    if name.replace("_", "").isupper():
        return (0, name)
    return (1 if name[0].isupper() else 2, name)


def test_public_api_is_sorted_and_importable() -> None:
    exported = unifyops_core.__all__
    assert exported == sorted(exported, key=isort_style)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert getattr(unifyops_core, name) is not None


MODULES = [
    app,
    client,
    compat,
    context,
    db,
    desired_state,
    error_shape,
    exceptions,
    handlers,
    health,
    hostile_input,
    keys,
    logs,
    metrics,
    middleware,
    migrations,
    naming,
    redaction,
    request_guard,
    security,
    security_headers,
    service_cli,
    service_tokens,
    settings,
    stack,
    testing,
    testing_db,
    tokens,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_every_module_states_a_sorted_public_api(module: ModuleType) -> None:
    assert module.__all__ == sorted(module.__all__, key=isort_style)
    assert all(hasattr(module, name) for name in module.__all__)
