"""The stacks end to end over real HTTP on loopback: gateway -> service -> PostgreSQL."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from integration.platform_harness import Platform
from unifyops.identity.auth.auth_service import roles_cli
from unifyops.identity.auth.auth_service.config import Settings as AuthServiceSettings
from unifyops_core.testing import capture_logs

PASSWORD = "a long enough passphrase"
UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}


def assert_uniform(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= UNIFORM_KEYS
    assert response.headers["X-Error-ID"] == body["error_id"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_and_login(platform: Platform) -> tuple[str, dict[str, Any]]:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    registered = httpx.post(
        platform.url("auth-api", "/v1/auth/register"), json={"email": email, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    login = httpx.post(
        platform.url("auth-api", "/v1/auth/login"), json={"email": email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens: dict[str, Any] = login.json()
    return email, tokens


def test_register_login_profile_refresh_logout(platform: Platform) -> None:
    email, tokens = register_and_login(platform)

    profile = httpx.get(
        platform.url("user-api", "/v1/profile"), headers=bearer(tokens["access_token"])
    )
    assert profile.status_code == 200, profile.text
    assert profile.json()["email"] == email
    etag = profile.headers["ETag"]

    updated = httpx.patch(
        platform.url("user-api", "/v1/profile"),
        json={"display_name": "Grace", "timezone": "America/New_York"},
        headers={**bearer(tokens["access_token"]), "If-Match": etag},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["display_name"] == "Grace"
    stale = httpx.patch(
        platform.url("user-api", "/v1/profile"),
        json={"display_name": "Lost"},
        headers={**bearer(tokens["access_token"]), "If-Match": etag},
    )
    assert assert_uniform(stale, 412)["error_type"] == "precondition_failed"

    refreshed = httpx.post(
        platform.url("auth-api", "/v1/auth/refresh"),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200
    new_tokens = refreshed.json()
    again = httpx.get(
        platform.url("user-api", "/v1/profile"), headers=bearer(new_tokens["access_token"])
    )
    assert again.json()["display_name"] == "Grace"

    logout = httpx.post(
        platform.url("auth-api", "/v1/auth/logout"),
        json={"refresh_token": new_tokens["refresh_token"]},
    )
    assert logout.status_code == 204
    after = httpx.post(
        platform.url("auth-api", "/v1/auth/refresh"),
        json={"refresh_token": new_tokens["refresh_token"]},
    )
    assert assert_uniform(after, 401)["error_type"] == "authentication_failed"


@pytest.mark.parametrize("gateway", ["user-api", "environment-api"])
def test_every_gateway_relays_sign_in_to_the_auth_stack(platform: Platform, gateway: str) -> None:
    """An app reaches only its own gateway; signing in there must work like at auth-api."""
    email = f"relay-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    registered = httpx.post(platform.url(gateway, "/v1/auth/register"), json=credentials)
    assert registered.status_code == 201, registered.text
    login = httpx.post(platform.url(gateway, "/v1/auth/login"), json=credentials)
    assert login.status_code == 200, login.text
    tokens = login.json()
    refreshed = httpx.post(
        platform.url(gateway, "/v1/auth/refresh"), json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    wrong = httpx.post(
        platform.url(gateway, "/v1/auth/login"), json={**credentials, "password": "wrong password!"}
    )
    assert assert_uniform(wrong, 401)["error_type"] == "authentication_failed"
    logout = httpx.post(
        platform.url(gateway, "/v1/auth/logout"),
        json={"refresh_token": refreshed.json()["refresh_token"]},
    )
    assert logout.status_code == 204


def grant(platform: Platform, email: str, role: str) -> None:
    """What `uo grant` runs in the auth-service container, against this platform's auth database."""
    settings = AuthServiceSettings(database=platform.databases["auth"])
    assert roles_cli.main(["grant", email, role], settings=settings) == 0


def test_environments_and_their_versions(platform: Platform) -> None:
    email, tokens = register_and_login(platform)
    # A fresh account is a member: its own profile, no environments.
    member = httpx.get(
        platform.url("environment-api", "/v1/environments"), headers=bearer(tokens["access_token"])
    )
    assert assert_uniform(member, 403)["details"] == {"missing_scopes": ["environments:read"]}
    grant(platform, email, "viewer")
    tokens = httpx.post(
        platform.url("auth-api", "/v1/auth/refresh"),
        json={"refresh_token": tokens["refresh_token"]},
    ).json()
    response = httpx.get(
        platform.url("environment-api", "/v1/environments"), headers=bearer(tokens["access_token"])
    )
    assert response.status_code == 200, response.text
    environments = {env["name"]: env for env in response.json()}
    assert set(environments) == {"dev", "staging", "prod"}
    prod_user = yaml.safe_load(Path("infra/environments/prod/user.yaml").read_text())
    assert environments["prod"]["stacks"]["user"]["core_version"] == prod_user["coreVersion"]
    diff = httpx.get(
        platform.url("environment-api", "/v1/promotions/diff?source=dev&target=staging"),
        headers=bearer(tokens["access_token"]),
    )
    assert diff.status_code == 200
    assert len(diff.json()["changes"]) == 9


def test_recording_a_deployment_needs_the_deployer_scope(platform: Platform) -> None:
    _, tokens = register_and_login(platform)
    event = {
        "environment": "dev",
        "stack": "user",
        "tier": "api",
        "tag": "abc1234",
        "git_commit": "abc1234",
    }
    denied = httpx.post(
        platform.url("environment-api", "/v1/deployments"),
        json=event,
        headers=bearer(tokens["access_token"]),
    )
    assert assert_uniform(denied, 403)["details"] == {"missing_scopes": ["deployments:write"]}


def test_gateways_reject_missing_and_forged_user_tokens(platform: Platform) -> None:
    for gateway, path in (("user-api", "/v1/profile"), ("environment-api", "/v1/environments")):
        assert_uniform(httpx.get(platform.url(gateway, path)), 401)
        assert_uniform(
            httpx.get(platform.url(gateway, path), headers=bearer("eyJhbGciOiJub25lIn0.e30.")), 401
        )


def test_profile_update_without_if_match_is_428(platform: Platform) -> None:
    _, tokens = register_and_login(platform)
    httpx.get(platform.url("user-api", "/v1/profile"), headers=bearer(tokens["access_token"]))
    response = httpx.patch(
        platform.url("user-api", "/v1/profile"),
        json={"display_name": "x"},
        headers=bearer(tokens["access_token"]),
    )
    assert assert_uniform(response, 428)["error_type"] == "precondition_required"


def service_token(platform: Platform, stack: str, audience: str) -> str:
    basic = base64.b64encode(f"{stack}-api:{platform.secrets[stack]}".encode()).decode()
    response = httpx.post(
        platform.url("auth-api", "/oauth/token"),
        data={"grant_type": "client_credentials", "audience": audience},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("service", ["user-service", "environment-service"])
def test_services_accept_only_their_own_gateways_service_token(
    platform: Platform, service: str
) -> None:
    path = "/internal/profiles" if service == "user-service" else "/internal/environments"
    stack = service.removesuffix("-service")
    ok = httpx.get(
        platform.url(service, path), headers=bearer(service_token(platform, stack, service))
    )
    assert ok.status_code == 200, ok.text
    assert_uniform(httpx.get(platform.url(service, path)), 401)  # no token
    other_audience = service_token(platform, "auth", "auth-service")
    assert_uniform(httpx.get(platform.url(service, path), headers=bearer(other_audience)), 401)
    _, tokens = register_and_login(platform)
    assert_uniform(
        httpx.get(platform.url(service, path), headers=bearer(tokens["access_token"])), 401
    )


def test_a_client_cannot_get_a_token_for_another_stacks_service(platform: Platform) -> None:
    basic = base64.b64encode(f"user-api:{platform.secrets['user']}".encode()).decode()
    response = httpx.post(
        platform.url("auth-api", "/oauth/token"),
        data={"grant_type": "client_credentials", "audience": "environment-service"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert assert_uniform(response, 403)["error_type"] == "forbidden"


def test_gateways_do_not_expose_service_only_endpoints(platform: Platform) -> None:
    for gateway, internal in (
        ("user-api", "/internal/profiles"),
        ("auth-api", "/internal/jwks"),
        ("environment-api", "/internal/environments"),
    ):
        assert_uniform(httpx.get(platform.url(gateway, internal)), 404)


def test_downstream_errors_keep_their_error_id_through_the_gateway(platform: Platform) -> None:
    email, _ = register_and_login(platform)
    with capture_logs() as logs:  # every server of the harness logs into this process
        duplicate = httpx.post(
            platform.url("auth-api", "/v1/auth/register"),
            json={"email": email, "password": PASSWORD},
        )
    body = assert_uniform(duplicate, 409)
    assert body["message"] == "An account with this email already exists"
    # One process runs every server here, so the tier shows in the path each failure was logged for.
    paths = {record["extra"]["path"] for record in logs.find(error_id=body["error_id"])}
    assert paths == {"/internal/accounts", "/v1/auth/register"}, "service and gateway share one id"
