import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from unifyops_core.client import ServiceClient
from unifyops_core.exceptions import (
    ConflictError,
    DependencyUnavailableError,
    DownstreamError,
    NotFoundError,
    RecordNotFoundError,
)
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.middleware import RequestContextMiddleware
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.testing import capture_logs
from unifyops_core.token_endpoint_testutil import TokenEndpoint


class Downstream:
    """A real downstream service (ASGI app) that records what it received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.failures_before_success = 0
        self.reject_tokens: set[str] = set()
        app = FastAPI()
        register_exception_handlers(app)

        @app.api_route("/echo", methods=["GET", "POST", "PUT"])
        async def echo(request: Request) -> dict[str, Any]:
            auth = request.headers.get("authorization", "")
            self.seen.append(
                {
                    "method": request.method,
                    "request_id": request.headers.get("x-request-id"),
                    "auth": auth,
                }
            )
            if auth.removeprefix("Bearer ") in self.reject_tokens:
                from unifyops_core.exceptions import AuthenticationError

                raise AuthenticationError("token revoked")
            if self.failures_before_success > 0:
                self.failures_before_success -= 1
                from unifyops_core.exceptions import DependencyUnavailableError as Unavailable

                raise Unavailable("warming up")
            return {"ok": True}

        @app.get("/users/{user_id}")
        async def user(user_id: str) -> None:
            raise RecordNotFoundError("User not found", details={"user_id": user_id})

        @app.post("/users")
        async def create() -> None:
            raise ConflictError("Email already registered")

        @app.get("/crash")
        async def crash() -> None:
            raise RuntimeError("kaboom")

        @app.get("/plain-error")
        async def plain() -> None:
            from fastapi.responses import PlainTextResponse

            return PlainTextResponse("upstream proxy error", status_code=502)  # type: ignore[return-value]

        self.app = app
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)


@pytest.fixture
def downstream() -> Downstream:
    return Downstream()


@pytest.fixture
async def client(downstream: Downstream) -> AsyncIterator[ServiceClient]:
    async with ServiceClient(
        "http://user-service", service="user-service", backoff=0.001, transport=downstream.transport
    ) as c:
        yield c


async def test_success_returns_the_response(client: ServiceClient) -> None:
    assert (await client.get("/echo")).json() == {"ok": True}


async def test_idempotent_requests_retry_on_503(
    client: ServiceClient, downstream: Downstream
) -> None:
    downstream.failures_before_success = 2
    assert (await client.get("/echo")).status_code == 200
    assert len(downstream.seen) == 3


async def test_retries_are_bounded(client: ServiceClient, downstream: Downstream) -> None:
    downstream.failures_before_success = 10
    with pytest.raises(DependencyUnavailableError):
        await client.get("/echo")
    assert len(downstream.seen) == 3  # 1 + max_retries


async def test_non_idempotent_requests_are_not_retried(
    client: ServiceClient, downstream: Downstream
) -> None:
    downstream.failures_before_success = 1
    with pytest.raises(DependencyUnavailableError):
        await client.post("/echo", json={})
    assert len(downstream.seen) == 1


async def test_connection_errors_retry_then_raise_dependency_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    async with ServiceClient(
        f"http://127.0.0.1:{port}", service="ghost", backoff=0.001, timeout=1
    ) as ghost:
        with (
            capture_logs() as logs,
            pytest.raises(DependencyUnavailableError, match="ghost is unavailable"),
        ):
            await ghost.get("/health/live")
    attempts = [r["extra"]["attempt"] for r in logs.find(target="ghost")]
    assert attempts == [1, 2, 3]


async def test_downstream_errors_become_typed_exceptions_keeping_error_id(
    client: ServiceClient,
) -> None:
    with pytest.raises(RecordNotFoundError) as not_found:
        await client.get("/users/42")
    assert isinstance(not_found.value, NotFoundError)
    assert not_found.value.error_type == "db_record_not_found"
    assert not_found.value.details == {"user_id": "42"}
    assert not_found.value.error_id

    with pytest.raises(ConflictError, match="Email already registered"):
        await client.post("/users")


async def test_downstream_5xx_becomes_downstream_error(client: ServiceClient) -> None:
    with pytest.raises(DownstreamError) as caught:
        await client.get("/crash")
    assert caught.value.status_code == 502
    assert caught.value.downstream_status == 500
    assert caught.value.error_id, "the downstream error_id is kept"
    with pytest.raises(DownstreamError):
        await client.get("/plain-error")


async def test_request_id_and_service_token_are_propagated(downstream: Downstream) -> None:
    endpoint = TokenEndpoint()
    tokens = ServiceTokenProvider(
        token_url="http://auth/oauth/token",
        client_id="user-api",
        client_secret="s3cret-for-tests",
        http=endpoint.http,
    )
    gateway = FastAPI()
    gateway.add_middleware(RequestContextMiddleware)
    service = ServiceClient(
        "http://svc",
        service="user-service",
        transport=downstream.transport,
        token_provider=tokens,
        audience="user-service",
    )

    @gateway.get("/proxy")
    async def proxy() -> dict[str, Any]:
        echoed: dict[str, Any] = (await service.get("/echo")).json()
        return echoed

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://gw"
    ) as http:
        await http.get("/proxy", headers={"X-Request-ID": "req-77"})
    (seen,) = downstream.seen
    assert seen["request_id"] == "req-77"
    assert seen["auth"].startswith("Bearer ey")


async def test_a_rejected_token_is_refetched_once(downstream: Downstream) -> None:
    endpoint = TokenEndpoint()
    tokens = ServiceTokenProvider(
        token_url="http://auth/oauth/token",
        client_id="user-api",
        client_secret="s3cret-for-tests",
        http=endpoint.http,
    )
    stale = await tokens.token_for("user-service")
    downstream.reject_tokens.add(stale)
    async with ServiceClient(
        "http://svc",
        service="user-service",
        transport=downstream.transport,
        token_provider=tokens,
        audience="user-service",
    ) as c:
        assert (await c.get("/echo")).status_code == 200
    assert endpoint.requests == 2
    assert [s["auth"].removeprefix("Bearer ") == stale for s in downstream.seen] == [True, False]


async def test_gateway_relays_a_downstream_error_with_the_same_error_id(
    downstream: Downstream,
) -> None:
    gateway = FastAPI()
    register_exception_handlers(gateway)
    service = ServiceClient("http://svc", service="user-service", transport=downstream.transport)

    @gateway.get("/users/{user_id}")
    async def relay(user_id: str) -> Any:
        return (await service.get(f"/users/{user_id}")).json()

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://gw"
    ) as http:
        with capture_logs() as logs:
            relayed = await http.get("/users/5")
    body = relayed.json()
    assert relayed.status_code == 404
    assert (body["error_type"], body["message"]) == ("db_record_not_found", "User not found")
    assert relayed.headers["X-Error-ID"] == body["error_id"]
    # The service's log line and the gateway's log line name the same failure.
    logged_ids = [r["error_id"] for r in logs.records if r["error_id"]]
    assert len(logged_ids) == 2
    assert set(logged_ids) == {body["error_id"]}


async def test_call_log_masks_credentials(downstream: Downstream) -> None:
    async with ServiceClient(
        "http://svc", service="user-service", transport=downstream.transport
    ) as c:
        with capture_logs() as logs:
            await c.get(
                "/echo",
                params={"access_token": "leaky-token", "q": "x"},
                headers={"Authorization": "Bearer leaky-header"},
            )
    text = logs.stream.getvalue()
    assert "leaky-token" not in text
    assert "leaky-header" not in text
    (call,) = logs.find(target="user-service")
    assert call["extra"]["status"] == 200
    assert "q=x" in call["extra"]["url"]
