import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, NoResultFound

from unifyops_core.exceptions import (
    DependencyUnavailableError,
    DownstreamError,
    NotFoundError,
    ServerError,
)
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.testing import capture_logs

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
SECRET_DSN = "postgresql+asyncpg://app:hunter2@db.internal:5432/users"


class Signup(BaseModel):
    email: str = Field(pattern=r"^[^@]+@[^@]+$")
    password: str = Field(min_length=12)


def build_app() -> FastAPI:
    """An app with nothing but the one line under test."""
    app = FastAPI()
    register_exception_handlers(app)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, int]:
        raise NotFoundError("User not found", details={"user_id": user_id})

    @app.post("/signup")
    async def signup(body: Signup) -> dict[str, str]:
        return {"email": body.email}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"connection to {SECRET_DSN} failed; SELECT list of users")

    @app.get("/no-row")
    async def no_row() -> None:
        raise NoResultFound("No row was found when one was required")

    @app.get("/duplicate")
    async def duplicate() -> None:
        raise IntegrityError(
            "INSERT INTO users (email) VALUES ('a@b.c')", {}, Exception("dup key users_email_key")
        )

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: Starlette re-raises after answering a 500; the answer is the test.
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_uniform(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == status
    assert set(body) >= {"status_code", "message", "error_id", "error_type", "timestamp"}
    assert body["status_code"] == status
    assert body["error_type"] == error_type
    assert uuid.UUID(body["error_id"]).version == 4
    assert TIMESTAMP.match(body["timestamp"])
    assert response.headers["X-Error-ID"] == body["error_id"]
    return body


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    body = assert_uniform(await client.get("/nope"), 404, "not_found")
    assert body["message"] == "Not found"


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    body = assert_uniform(await client.delete("/signup"), 405, "method_not_allowed")
    assert body["message"] == "Method not allowed"


async def test_validation_error_is_422_with_fields_and_without_the_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/signup", json={"email": "not-an-email", "password": "short-pw"})
    body = assert_uniform(response, 422, "validation_error")
    details = body["details"]
    assert isinstance(details, dict)
    fields = {tuple(error["loc"]) for error in details["errors"]}
    assert fields == {("body", "email"), ("body", "password")}
    assert "short-pw" not in response.text, "rejected input must not be echoed"


async def test_path_parameter_type_error_is_422(client: httpx.AsyncClient) -> None:
    assert_uniform(await client.get("/users/abc"), 422, "validation_error")


async def test_domain_error_keeps_its_status_message_and_details(client: httpx.AsyncClient) -> None:
    body = assert_uniform(await client.get("/users/7"), 404, "not_found")
    assert body["message"] == "User not found"
    assert body["details"] == {"user_id": 7}


async def test_unhandled_exception_is_a_generic_500(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        response = await client.get("/boom")
    body = assert_uniform(response, 500, "internal_error")
    assert body["message"] == "Internal server error"
    for leak in (
        "RuntimeError",
        "hunter2",
        "SELECT list",
        "postgresql",
        "Traceback",
        "db.internal",
    ):
        assert leak not in response.text
    # The cause goes to the log line of the same failure, with its DSN password redacted.
    (record,) = logs.find(error_id=body["error_id"])
    assert record["level"] == "ERROR"
    assert record["exception"]["type"] == "RuntimeError"
    assert "hunter2" not in logs.stream.getvalue()


async def test_sqlalchemy_no_result_is_404_db_record_not_found(client: httpx.AsyncClient) -> None:
    body = assert_uniform(await client.get("/no-row"), 404, "db_record_not_found")
    assert body["message"] == "Record not found"


async def test_sqlalchemy_integrity_error_is_409_without_sql(client: httpx.AsyncClient) -> None:
    response = await client.get("/duplicate")
    assert_uniform(response, 409, "conflict")
    assert "INSERT" not in response.text
    assert "users_email_key" not in response.text


async def test_error_id_is_in_the_log_record_of_the_failure(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        response = await client.get("/users/9")
    (record,) = logs.find(error_id=response.json()["error_id"])
    assert record["extra"]["error_type"] == "not_found"
    assert record["extra"]["status_code"] == 404


async def test_each_failure_gets_a_fresh_error_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/nope")).json()["error_id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    "error",
    [
        DependencyUnavailableError(
            "auth-service at http://auth-service:8001 is unavailable",
            details={"dependency": "auth-service", "url": "http://10.0.0.7:8001"},
        ),
        DownstreamError(
            "user-service.uo-dev.svc failed",
            downstream_status=500,
            downstream_error_type="internal_error",
            service="user-service",
            details={"host": "user-service"},
        ),
    ],
    ids=["503", "502"],
)
async def test_dependency_failures_name_no_internal_host(error: ServerError) -> None:
    app = FastAPI()
    register_exception_handlers(app)

    @app.get("/fails")
    async def fails() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with capture_logs() as logs:
            response = await http.get("/fails")
    body = assert_uniform(response, error.status_code, error.error_type)
    assert body["message"] == type(error).default_message
    assert "details" not in body
    for internal in ("auth-service", "user-service", "10.0.0.7", "svc"):
        assert internal not in response.text
    # The operator still finds the specific cause under the same error id.
    (record,) = logs.find(error_id=body["error_id"])
    assert record["exception"]["message"] == error.message


async def test_readiness_outcomes_stay_in_a_503_body() -> None:
    app = FastAPI()
    register_exception_handlers(app)

    @app.get("/ready")
    async def ready() -> None:
        raise DependencyUnavailableError("Not ready", details={"checks": {"database": "failed"}})

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        body = assert_uniform(await http.get("/ready"), 503, "dependency_unavailable")
    assert body["details"] == {"checks": {"database": "failed"}}
