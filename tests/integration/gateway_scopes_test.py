"""Gateway paths that need scopes an ordinary account does not have (admin, deployer): the gateway
and its service run for real (ASGI, real PostgreSQL); the user tokens come from a test signing key
the gateway trusts in place of the auth stack's JWKS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from unifyops.identity.user.user_api.config import Settings as UserApiSettings
from unifyops.identity.user.user_api.main import create_app as create_user_api
from unifyops.identity.user.user_service.config import Settings as UserServiceSettings
from unifyops.identity.user.user_service.main import create_app as create_user_service
from unifyops.identity.user.user_service.main import migrate as migrate_user_service
from unifyops.platform.environment.environment_api.config import Settings as EnvironmentApiSettings
from unifyops.platform.environment.environment_api.main import create_app as create_environment_api
from unifyops.platform.environment.environment_service.config import (
    Settings as EnvironmentServiceSettings,
)
from unifyops.platform.environment.environment_service.main import (
    create_app as create_environment_service,
)
from unifyops.platform.environment.environment_service.main import (
    migrate as migrate_environment_service,
)
from unifyops_core.keys import StaticKeys
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.testing import SigningKey
from unifyops_core.testing_db import fresh_database
from unifyops_core.token_endpoint_testutil import TokenEndpoint


@dataclass
class Gateway:
    http: httpx.AsyncClient
    users: SigningKey

    def as_user(self, subject: str, scopes: str) -> dict[str, str]:
        token = self.users.mint(sub=subject, scope=scopes, email=f"{subject}@example.com")
        return {"Authorization": f"Bearer {token}"}


def wiring(client_id: str) -> tuple[TokenEndpoint, ServiceTokenProvider]:
    endpoint = TokenEndpoint(client_id=client_id, client_secret="gateway-secret-for-tests")
    provider = ServiceTokenProvider(
        token_url="http://auth/oauth/token",
        client_id=client_id,
        client_secret="gateway-secret-for-tests",
        http=endpoint.http,
    )
    return endpoint, provider


@pytest.fixture
async def user_gateway() -> AsyncIterator[Gateway]:
    users = SigningKey()
    endpoint, provider = wiring("user-api")
    async with fresh_database() as database:
        settings = UserServiceSettings(database=database)
        await asyncio.to_thread(migrate_user_service, settings)
        service = create_user_service(settings, keys=StaticKeys([endpoint.key.public_jwk()]))
        gateway = create_user_api(
            UserApiSettings(service_url="http://user-service"),
            keys=StaticKeys([users.public_jwk()]),
            token_provider=provider,
            service_transport=httpx.ASGITransport(app=service),
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://user-api"
        ) as http:
            yield Gateway(http, users)
        await service.state.db.dispose()


@pytest.fixture
async def environment_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    import shutil

    users = SigningKey()
    endpoint, provider = wiring("environment-api")
    infra = tmp_path / "environments"
    shutil.copytree(Path.cwd() / "infra/environments", infra)
    async with fresh_database() as database:
        settings = EnvironmentServiceSettings(database=database, infra_path=infra)
        await asyncio.to_thread(migrate_environment_service, settings)
        service = create_environment_service(settings, keys=StaticKeys([endpoint.key.public_jwk()]))
        gateway = create_environment_api(
            EnvironmentApiSettings(service_url="http://environment-service"),
            keys=StaticKeys([users.public_jwk()]),
            token_provider=provider,
            service_transport=httpx.ASGITransport(app=service),
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://environment-api"
        ) as http:
            yield Gateway(http, users)
        await service.state.db.dispose()


async def test_admins_list_and_read_profiles_others_may_not(user_gateway: Gateway) -> None:
    for subject in ("ada", "grace"):
        assert (
            await user_gateway.http.get(
                "/v1/profile", headers=user_gateway.as_user(subject, "profile:read")
            )
        ).status_code == 200
    denied = await user_gateway.http.get(
        "/v1/profiles", headers=user_gateway.as_user("ada", "profile:read")
    )
    assert denied.status_code == 403
    admin = user_gateway.as_user("root", "profiles:admin")
    listing = await user_gateway.http.get("/v1/profiles?limit=10", headers=admin)
    assert listing.status_code == 200
    assert {item["subject"] for item in listing.json()["items"]} == {"ada", "grace"}
    one = await user_gateway.http.get("/v1/profiles/grace", headers=admin)
    assert (one.json()["email"], one.headers["ETag"]) == ("grace@example.com", '"v1"')
    missing = await user_gateway.http.get("/v1/profiles/nobody", headers=admin)
    assert (missing.status_code, missing.json()["error_type"]) == (404, "db_record_not_found")


async def test_deployers_record_deployments_with_themselves_as_actor(
    environment_gateway: Gateway,
) -> None:
    event: dict[str, Any] = {
        "environment": "dev",
        "stack": "user",
        "tier": "api",
        "tag": "abc1234",
        "git_commit": "abc1234",
    }
    deployer = environment_gateway.as_user("release-bot", "deployments:write environments:read")
    created = await environment_gateway.http.post("/v1/deployments", json=event, headers=deployer)
    assert created.status_code == 201, created.text
    assert created.json()["actor"] == "release-bot"
    history = await environment_gateway.http.get(
        "/v1/deployments?environment=dev", headers=deployer
    )
    assert [e["tag"] for e in history.json()] == ["abc1234"]
    forged = await environment_gateway.http.post(
        "/v1/deployments", json={**event, "actor": "someone-else"}, headers=deployer
    )
    assert forged.status_code == 422  # the actor comes from the token, never from the body
