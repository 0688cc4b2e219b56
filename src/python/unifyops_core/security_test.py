from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from unifyops_core.handlers import register_exception_handlers
from unifyops_core.keys import StaticKeys
from unifyops_core.security import CurrentUser, install_auth, require_scopes, require_service
from unifyops_core.testing import SigningKey
from unifyops_core.tokens import Principal, TokenValidator

USERS = SigningKey(kid="user-key")
SERVICES = SigningKey(kid="service-key")


def build_app() -> FastAPI:
    app = FastAPI()
    register_exception_handlers(app)
    keys = StaticKeys([USERS.public_jwk(), SERVICES.public_jwk()])
    install_auth(
        app,
        user_tokens=TokenValidator(keys, issuer="unifyops-auth", audience="unifyops"),
        service_tokens=TokenValidator(keys, issuer="unifyops-auth", audience="user-service"),
    )

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.subject}

    @app.get("/admin")
    async def admin(user: Annotated[Principal, Depends(require_scopes("admin"))]) -> dict[str, str]:
        return {"sub": user.subject}

    @app.get("/internal")
    async def internal(
        caller: Annotated[Principal, Depends(require_service(["user-api"]))],
    ) -> dict[str, str]:
        return {"caller": caller.subject}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app()), base_url="http://t"
    ) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_token(caller: str = "user-api", audience: str = "user-service") -> str:
    return SERVICES.mint(sub=caller, aud=audience, token_use="service")


async def test_current_user_from_a_valid_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(USERS.mint(sub="alice")))
    assert response.json() == {"sub": "alice"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWxpY2U6cHc="}, {"Authorization": "Bearer "}, bearer("junk")],
)
async def test_missing_or_bad_credentials_are_401_uniform(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error_type"] == "authentication_failed"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_service_token_is_not_a_user_token(client: httpx.AsyncClient) -> None:
    token = SERVICES.mint(sub="user-api", aud="unifyops", token_use="service")
    assert (await client.get("/me", headers=bearer(token))).status_code == 401


async def test_scopes_are_enforced_with_403(client: httpx.AsyncClient) -> None:
    denied = await client.get("/admin", headers=bearer(USERS.mint(scope="profile:read")))
    assert denied.status_code == 403
    assert denied.json()["details"] == {"missing_scopes": ["admin"]}
    allowed = await client.get("/admin", headers=bearer(USERS.mint(scope="admin")))
    assert allowed.status_code == 200


async def test_service_calls_need_this_audience_and_an_allowed_caller(
    client: httpx.AsyncClient,
) -> None:
    ok = await client.get("/internal", headers=bearer(service_token()))
    assert ok.json() == {"caller": "user-api"}
    wrong_audience = await client.get(
        "/internal", headers=bearer(service_token(audience="auth-service"))
    )
    assert wrong_audience.status_code == 401
    assert wrong_audience.json()["error_type"] == "invalid_service_token"
    neighbour = await client.get(
        "/internal", headers=bearer(service_token(caller="environment-api"))
    )
    assert neighbour.status_code == 403
    user_token = await client.get("/internal", headers=bearer(USERS.mint(aud="user-service")))
    assert user_token.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("junk"),
        bearer(SigningKey(kid="service-key").mint(sub="user-api", aud="user-service")),
        bearer(SERVICES.mint(sub="user-api", aud="user-service", token_use="service", exp=1)),
    ],
    ids=["missing", "junk", "rotated-out-key", "expired"],
)
async def test_a_rejected_service_token_says_so_so_the_caller_refreshes_it(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The one 401 a calling service answers by fetching a new token (its client retries once)."""
    response = await client.get("/internal", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error_type"] == "invalid_service_token"
    assert set(body) >= {"status_code", "message", "error_id", "timestamp"}
    assert response.headers["WWW-Authenticate"] == "Bearer"
