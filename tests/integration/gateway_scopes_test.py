"""Gateway paths that need scopes an ordinary account does not have (admin, deployer): the gateway
and its service run for real (ASGI, real PostgreSQL); the user tokens come from a test signing key
the gateway trusts in place of the auth stack's JWKS, with the scopes auth-service's roles grant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from unifyops.identity.auth.auth_api.config import Settings as AuthApiSettings
from unifyops.identity.auth.auth_api.main import create_app as create_auth_api
from unifyops.identity.auth.auth_service.clients import register_client
from unifyops.identity.auth.auth_service.config import Settings as AuthServiceSettings
from unifyops.identity.auth.auth_service.main import create_app as create_auth_service
from unifyops.identity.auth.auth_service.main import migrate as migrate_auth_service
from unifyops.identity.auth.auth_service.schemas import ROLE_SCOPES
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

    def as_role(self, subject: str, role: str) -> dict[str, str]:
        """A token with the scopes auth-service issues for ``role``."""
        return self.as_user(subject, " ".join(ROLE_SCOPES[role]))


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


UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}
ENVIRONMENT_READS = (
    "/v1/environments",
    "/v1/environments/dev",
    "/v1/promotions/diff?source=dev&target=staging",
    "/v1/deployments",
)


async def test_a_member_reads_no_environment_a_viewer_and_an_admin_do(
    environment_gateway: Gateway,
) -> None:
    for path in ENVIRONMENT_READS:
        denied = await environment_gateway.http.get(
            path, headers=environment_gateway.as_role("stranger", "member")
        )
        assert denied.status_code == 403, (path, denied.text)
        body = denied.json()
        assert set(body) >= UNIFORM_KEYS
        assert (body["error_type"], body["details"]) == (
            "forbidden",
            {"missing_scopes": ["environments:read"]},
        )
        for role in ("viewer", "deployer", "admin"):
            allowed = await environment_gateway.http.get(
                path, headers=environment_gateway.as_role(role, role)
            )
            assert allowed.status_code == 200, (path, role, allowed.text)


async def test_only_deployers_and_admins_record_deployments(environment_gateway: Gateway) -> None:
    event = {
        "environment": "dev",
        "stack": "user",
        "tier": "api",
        "tag": "abc1234",
        "git_commit": "abc1234",
    }
    for role, expected in (("member", 403), ("viewer", 403), ("deployer", 201), ("admin", 201)):
        # A release of its own per role: the same event again is "already recorded" (200).
        release = {**event, "tag": f"abc1234-{role}"}
        response = await environment_gateway.http.post(
            "/v1/deployments", json=release, headers=environment_gateway.as_role(role, role)
        )
        assert response.status_code == expected, (role, response.text)


async def test_profiles_of_others_are_for_admins_only(user_gateway: Gateway) -> None:
    own = await user_gateway.http.get("/v1/profile", headers=user_gateway.as_role("ada", "member"))
    assert own.status_code == 200
    for role, expected in (("member", 403), ("viewer", 403), ("deployer", 403), ("admin", 200)):
        response = await user_gateway.http.get(
            "/v1/profiles", headers=user_gateway.as_role(role, role)
        )
        assert response.status_code == expected, role


AUTH_API_SECRET = "auth-api-secret-for-tests"


@pytest.fixture
async def auth_gateway() -> AsyncIterator[Gateway]:
    users = SigningKey()
    async with fresh_database() as database:
        settings = AuthServiceSettings(database=database)
        await asyncio.to_thread(migrate_auth_service, settings)
        service = create_auth_service(settings)
        async with service.state.db.sessions() as session:
            await register_client(session, "auth-api", AUTH_API_SECRET, ["auth-service"])
        to_service = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=to_service, base_url="http://auth-service") as http:
            provider = ServiceTokenProvider(
                token_url="http://auth-service/oauth/token",
                client_id="auth-api",
                client_secret=AUTH_API_SECRET,
                http=http,
            )
            gateway = create_auth_api(
                AuthApiSettings(service_url="http://auth-service"),
                provider,
                user_keys=StaticKeys([users.public_jwk()]),
                service_transport=to_service,
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway), base_url="http://auth-api"
            ) as client:
                yield Gateway(client, users)
        await service.state.db.dispose()


async def test_admins_manage_roles_through_auth_api_and_keep_one_admin(
    auth_gateway: Gateway,
) -> None:
    http = auth_gateway.http
    for email in ("ada@example.com", "grace@example.com"):
        registered = await http.post(
            "/v1/auth/register", json={"email": email, "password": "correct horse battery"}
        )
        assert registered.status_code == 201, registered.text
    change = {"email": "grace@example.com", "role": "deployer"}
    for role in ("member", "viewer", "deployer"):
        denied = await http.post(
            "/v1/auth/roles/grant", json=change, headers=auth_gateway.as_role(role, role)
        )
        assert denied.status_code == 403
        assert set(denied.json()) >= UNIFORM_KEYS
    admin = auth_gateway.as_role("root", "admin")
    granted = await http.post("/v1/auth/roles/grant", json=change, headers=admin)
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == ["member", "deployer"]
    shown = await http.get("/v1/auth/roles/accounts?email=grace@example.com", headers=admin)
    assert "deployments:write" in shown.json()["scopes"]
    listed = await http.get("/v1/auth/roles", headers=admin)
    assert [role["name"] for role in listed.json()] == list(ROLE_SCOPES)

    await http.post(
        "/v1/auth/roles/grant", json={"email": "ada@example.com", "role": "admin"}, headers=admin
    )
    last = await http.post(
        "/v1/auth/roles/revoke", json={"email": "ada@example.com", "role": "admin"}, headers=admin
    )
    assert (last.status_code, last.json()["error_type"]) == (409, "conflict")
    assert set(last.json()) >= UNIFORM_KEYS
    unknown = await http.post(
        "/v1/auth/roles/grant",
        json={"email": "nobody@example.com", "role": "viewer"},
        headers=admin,
    )
    assert unknown.status_code == 404
    bad_role = await http.post(
        "/v1/auth/roles/grant", json={"email": "ada@example.com", "role": "root"}, headers=admin
    )
    assert bad_role.status_code == 422
