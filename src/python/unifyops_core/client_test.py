import socket
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, Response

from unifyops_core.client import CONNECT_TIMEOUT_SECONDS, ServiceClient
from unifyops_core.exceptions import (
    AuthenticationError,
    ConflictError,
    DependencyUnavailableError,
    DownstreamError,
    InvalidServiceTokenError,
    NotFoundError,
    RateLimitedError,
    RecordNotFoundError,
)
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.keys import StaticKeys
from unifyops_core.middleware import RequestContextMiddleware
from unifyops_core.security import install_auth, require_service
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.testing import SigningKey, capture_logs
from unifyops_core.token_endpoint_testutil import TokenEndpoint
from unifyops_core.tokens import Principal, TokenValidator


class Downstream:
    """A real downstream service (ASGI app) that records what it received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.failures_before_success = 0
        self.reject_tokens: set[str] = set()
        self.logins = 0
        self.retry_after: int | None = 17
        self.junk = "Wed, 21 Oct 2099 07:28:00 GMT"
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
                raise InvalidServiceTokenError("Token revoked")
            if self.failures_before_success > 0:
                self.failures_before_success -= 1
                from unifyops_core.exceptions import DependencyUnavailableError as Unavailable

                raise Unavailable("warming up")
            return {"ok": True}

        @app.post("/sessions")
        async def login() -> None:
            self.logins += 1
            raise AuthenticationError("Invalid email or password")

        @app.post("/limited")
        async def limited() -> None:
            raise RateLimitedError("Too many login attempts", retry_after=self.retry_after)

        @app.get("/limited-by-a-proxy")
        async def limited_by_a_proxy() -> Response:
            return Response("slow down", status_code=429, headers={"Retry-After": self.junk})

        @app.get("/unavailable")
        async def unavailable() -> None:
            raise DependencyUnavailableError(
                "postgres.identity.svc:5432 is unavailable", details={"host": "postgres"}
            )

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
        with capture_logs() as logs, pytest.raises(DependencyUnavailableError) as caught:
            await ghost.get("/health/live")
    attempts = [r["extra"]["attempt"] for r in logs.find(target="ghost")]
    assert attempts == [1, 2, 3], "the log line names the target"
    assert caught.value.message == "A dependency is unavailable", "the message names no host"


async def test_every_attempt_is_told_with_its_outcome(
    client: ServiceClient, downstream: Downstream
) -> None:
    seen: list[tuple[str, str]] = []
    client.on_attempt = lambda target, outcome: seen.append((target, outcome))
    downstream.failures_before_success = 1
    assert (await client.get("/echo")).status_code == 200  # one 503, then its retry
    with pytest.raises(RecordNotFoundError):
        await client.get("/users/7")
    assert seen == [
        ("user-service", "server_error"),
        ("user-service", "ok"),
        ("user-service", "client_error"),
    ]
    # A target that keeps failing opens the breaker: later calls are refused, never sent.
    seen.clear()
    downstream.failures_before_success = 1000
    for _ in range(10):
        with pytest.raises(DependencyUnavailableError):
            await client.get("/echo")
    outcomes = {outcome for _, outcome in seen}
    assert outcomes == {"server_error", "circuit_open"}, seen
    sent = len(downstream.seen)
    with pytest.raises(DependencyUnavailableError):
        await client.get("/echo")
    assert len(downstream.seen) == sent  # refused by the breaker: nothing reached the target
    assert seen[-1] == ("user-service", "circuit_open")


async def test_an_unanswered_connect_gives_up_before_the_call_timeout() -> None:
    # A non-routable address (TEST-NET-1): the SYN gets no answer, as for a cut network.
    async with ServiceClient(
        "http://192.0.2.1:8001", service="cut", timeout=30, max_retries=0
    ) as cut:
        seen: list[str] = []
        cut.on_attempt = lambda _, outcome: seen.append(outcome)
        started = time.monotonic()
        with pytest.raises(DependencyUnavailableError):
            await cut.get("/health/live")
        took = time.monotonic() - started
    assert took < CONNECT_TIMEOUT_SECONDS + 1, took
    assert seen == ["unreachable"]


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


def _tokens(endpoint: TokenEndpoint) -> ServiceTokenProvider:
    return ServiceTokenProvider(
        token_url="http://auth/oauth/token",
        client_id="user-api",
        client_secret="s3cret-for-tests",
        http=endpoint.http,
    )


async def test_a_wrong_password_401_is_an_answer_not_a_rejected_token(
    downstream: Downstream,
) -> None:
    """A user's failed login must reach the password check once, not once per token refresh."""
    endpoint = TokenEndpoint()
    async with ServiceClient(
        "http://svc",
        service="auth-service",
        transport=downstream.transport,
        token_provider=_tokens(endpoint),
        audience="auth-service",
    ) as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.post("/sessions", json={"email": "a@b.c", "password": "wrong"})
    assert type(caught.value) is AuthenticationError
    assert (caught.value.error_type, caught.value.message) == (
        "authentication_failed",
        "Invalid email or password",
    )
    assert downstream.logins == 1
    assert endpoint.requests == 1


async def test_a_token_rejected_again_after_the_refresh_is_a_generic_502(
    downstream: Downstream,
) -> None:
    endpoint = TokenEndpoint()
    tokens = _tokens(endpoint)

    class RejectAll(set[str]):
        def __contains__(self, item: object) -> bool:
            return True

    downstream.reject_tokens = RejectAll()
    async with ServiceClient(
        "http://svc",
        service="user-service",
        transport=downstream.transport,
        token_provider=tokens,
        audience="user-service",
    ) as c:
        with pytest.raises(DownstreamError) as caught:
            await c.get("/echo")
    assert len(downstream.seen) == 2, "refreshed and retried once, then given up"
    assert endpoint.requests == 2
    assert caught.value.status_code == 502, "our credentials are not the caller's 401"
    assert caught.value.downstream_error_type == "invalid_service_token"
    assert "user-service" not in caught.value.message


async def test_a_key_rotation_behind_require_service_is_survived_with_one_retry() -> None:
    """The real guard: a token signed with a rotated-out key is answered invalid_service_token,
    and the client fetches one signed with the new key."""
    endpoint = TokenEndpoint()
    tokens = _tokens(endpoint)
    await tokens.token_for("user-service")  # cached, signed with the old key
    endpoint.key = SigningKey(kid="service-key-2")
    service = FastAPI()
    register_exception_handlers(service)
    install_auth(
        service,
        service_tokens=TokenValidator(
            StaticKeys([endpoint.key.public_jwk()]), issuer="unifyops-auth", audience="user-service"
        ),
    )
    calls: list[str] = []

    @service.get("/guarded")
    async def guarded(
        caller: Annotated[Principal, Depends(require_service(["user-api"]))],
    ) -> dict[str, str]:
        calls.append(caller.subject)
        return {"caller": caller.subject}

    hits = 0

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        nonlocal hits
        hits += scope["type"] == "http"
        await service(scope, receive, send)

    async with ServiceClient(
        "http://svc",
        service="user-service",
        transport=httpx.ASGITransport(app=counting),
        token_provider=tokens,
        audience="user-service",
    ) as c:
        assert (await c.get("/guarded")).json() == {"caller": "user-api"}
    assert (hits, endpoint.requests, calls) == (2, 2, ["user-api"])


async def _relay(downstream: Downstream, path: str, method: str = "GET") -> httpx.Response:
    """``path`` called through a gateway that relays the downstream failure, as gateways do."""
    gateway = FastAPI()
    register_exception_handlers(gateway)
    service = ServiceClient(
        "http://user-service.identity.svc:8000",
        service="user-service",
        transport=downstream.transport,
        backoff=0.001,
    )

    @gateway.api_route("/relay", methods=["GET", "POST"])
    async def relay() -> Any:
        return (await service.request(method, path)).json()

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://gw"
    ) as http:
        return await http.request(method, "/relay")


def _assert_uniform(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == body["status_code"] == status
    assert body["error_type"] == error_type
    assert {"message", "error_id", "timestamp"} <= body.keys()
    return body


async def test_a_downstream_429_keeps_its_retry_after(downstream: Downstream) -> None:
    relayed = await _relay(downstream, "/limited", method="POST")
    body = _assert_uniform(relayed, 429, "rate_limited")
    assert relayed.headers["Retry-After"] == "17"
    assert body["message"] == "Too many login attempts"


async def test_a_retry_after_that_is_not_seconds_is_dropped(downstream: Downstream) -> None:
    relayed = await _relay(downstream, "/limited-by-a-proxy")
    _assert_uniform(relayed, 429, "rate_limited")
    assert "Retry-After" not in relayed.headers
    downstream.junk = "12abc"
    assert "Retry-After" not in (await _relay(downstream, "/limited-by-a-proxy")).headers
    downstream.junk = " 30 "
    assert (await _relay(downstream, "/limited-by-a-proxy")).headers["Retry-After"] == "30"


@pytest.mark.parametrize(
    ("path", "status", "error_type"),
    [
        ("/crash", 502, "downstream_error"),
        ("/plain-error", 502, "downstream_error"),
        ("/unavailable", 503, "dependency_unavailable"),
    ],
)
async def test_relayed_5xx_bodies_name_no_internal_host(
    downstream: Downstream, path: str, status: int, error_type: str
) -> None:
    relayed = await _relay(downstream, path)
    _assert_uniform(relayed, status, error_type)
    for internal in ("user-service", "identity.svc", "postgres", "8000"):
        assert internal not in relayed.text


async def test_a_write_with_an_idempotency_key_is_retried_and_one_without_is_not(
    client: ServiceClient, downstream: Downstream
) -> None:
    downstream.failures_before_success = 1
    response = await client.post("/echo", headers={"Idempotency-Key": "k-1"})
    assert response.json() == {"ok": True}
    assert [seen["method"] for seen in downstream.seen] == ["POST", "POST"]
    downstream.failures_before_success = 1
    with pytest.raises(DependencyUnavailableError):
        await client.post("/echo")
    assert len(downstream.seen) == 3
