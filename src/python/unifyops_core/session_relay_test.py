"""The session relay against a real ASGI upstream: bodies, statuses and error ids pass through;
an unreachable auth stack is a uniform 503; oversized bodies are refused before relaying."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from unifyops_core.app import create_service_app
from unifyops_core.session_relay import MAX_BODY_BYTES, SessionRelay
from unifyops_core.settings import ServiceSettings


def upstream() -> tuple[FastAPI, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/v1/auth/{action}")
    async def auth(action: str, request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(
            {"action": action, "body": body, "request_id": request.headers.get("X-Request-ID")}
        )
        if body.get("password") == "wrong":
            return JSONResponse(
                {
                    "status_code": 401,
                    "message": "Invalid email or password",
                    "error_id": "e-1",
                    "error_type": "authentication_failed",
                    "timestamp": "t",
                },
                status_code=401,
                headers={"X-Error-ID": "e-1"},
            )
        return JSONResponse({"access_token": "a", "refresh_token": "r", "expires_in": 900})

    return app, seen


def gateway(transport: httpx.AsyncBaseTransport) -> TestClient:
    settings = ServiceSettings(service_name="user-api", environment="test")
    app = create_service_app(settings, version="test")
    app.include_router(SessionRelay("http://auth-api:8002", transport=transport).router)
    return TestClient(app)


def test_calls_and_answers_pass_through_unchanged() -> None:
    app, seen = upstream()
    client = gateway(httpx.ASGITransport(app=app))
    ok = client.post("/v1/auth/login", json={"email": "a@example.com", "password": "right"})
    assert ok.status_code == 200
    assert ok.json()["refresh_token"] == "r"
    assert seen[0]["action"] == "login"
    assert seen[0]["body"] == {"email": "a@example.com", "password": "right"}
    assert seen[0]["request_id"] == ok.headers["X-Request-ID"]  # one request id end to end

    wrong = client.post("/v1/auth/login", json={"email": "a@example.com", "password": "wrong"})
    assert wrong.status_code == 401
    assert wrong.json()["error_id"] == "e-1"
    assert wrong.headers["X-Error-ID"] == "e-1"


def test_an_unreachable_auth_stack_is_a_uniform_503() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = gateway(httpx.MockTransport(refuse))
    response = client.post("/v1/auth/refresh", json={"refresh_token": "r"})
    assert response.status_code == 503
    body = response.json()
    assert body["error_type"] == "dependency_unavailable"
    # Which internal host failed is for the log (same error_id), never for the client.
    assert "auth-api" not in response.text


def test_an_oversized_body_is_refused_without_relaying() -> None:
    app, seen = upstream()
    client = gateway(httpx.ASGITransport(app=app))
    response = client.post("/v1/auth/login", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 422
    assert seen == []
