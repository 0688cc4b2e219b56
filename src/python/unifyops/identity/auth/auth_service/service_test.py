"""auth-service against a real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import jwt
import pytest

from unifyops.identity.auth.auth_service.conftest import AuthService
from unifyops_core.keys import StaticKeys
from unifyops_core.tokens import TokenValidator

PASSWORD = "correct horse battery staple"


async def register(
    svc: AuthService, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, str]:
    response = await svc.http.post(
        "/internal/accounts",
        json={"email": email, "password": password},
        headers=await svc.as_gateway(),
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def login(
    svc: AuthService,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    *,
    device_token: object = None,
    address: str = "10.1.2.3",
) -> tuple[int, dict[str, object]]:
    # auth-api forwards the client's address as X-Forwarded-For.
    headers = {**await svc.as_gateway(), "X-Forwarded-For": address}
    response = await svc.http.post(
        "/internal/sessions",
        json={"email": email, "password": password, "device_token": device_token},
        headers=headers,
    )
    body: dict[str, object] = response.json()
    return response.status_code, body


async def validator_for(svc: AuthService, audience: str) -> TokenValidator:
    jwks = (await svc.http.get("/internal/jwks", headers=await svc.as_gateway())).json()
    return TokenValidator(StaticKeys(jwks["keys"]), issuer="unifyops-auth", audience=audience)


async def test_register_then_login_issues_a_verifiable_access_token(
    auth_service: AuthService,
) -> None:
    account = await register(auth_service, email="Ada@Example.com")
    assert account["email"] == "ada@example.com"
    status, tokens = await login(auth_service)
    assert status == 200
    principal = await (await validator_for(auth_service, "unifyops")).validate(
        str(tokens["access_token"])
    )
    assert principal.subject == account["id"]
    assert "profile:read" in principal.scopes
    assert jwt.get_unverified_header(str(tokens["access_token"]))["alg"] == "RS256"


async def test_duplicate_registration_is_409(auth_service: AuthService) -> None:
    await register(auth_service)
    response = await auth_service.http.post(
        "/internal/accounts",
        json={"email": "ADA@example.com", "password": PASSWORD},
        headers=await auth_service.as_gateway(),
    )
    assert response.status_code == 409
    assert response.json()["error_type"] == "conflict"


async def test_short_password_is_a_clear_422(auth_service: AuthService) -> None:
    response = await auth_service.http.post(
        "/internal/accounts",
        json={"email": "a@example.com", "password": "short"},
        headers=await auth_service.as_gateway(),
    )
    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["loc"] == ["body", "password"]


async def test_wrong_password_and_unknown_email_look_the_same(auth_service: AuthService) -> None:
    await register(auth_service)
    wrong_status, wrong = await login(auth_service, password="not the password at all")
    unknown_status, unknown = await login(auth_service, email="nobody@example.com")
    assert wrong_status == unknown_status == 401
    assert wrong["message"] == unknown["message"] == "Invalid email or password"


async def test_repeated_failures_are_rate_limited(auth_service: AuthService) -> None:
    await register(auth_service)
    for _ in range(3):
        assert (await login(auth_service, password="wrong password here"))[0] == 401
    status, body = await login(auth_service)  # even the right password waits now
    assert status == 429
    assert body["error_type"] == "rate_limited"


async def test_refresh_rotates_and_reuse_after_the_grace_ends_the_session(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    _, first = await login(auth_service)
    headers = await auth_service.as_gateway()
    rotated = await auth_service.http.post(
        "/internal/sessions/refresh",
        json={"refresh_token": first["refresh_token"]},
        headers=headers,
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["device_token"] is None  # only a login issues one
    await auth_service.sql("UPDATE refresh_tokens SET rotated_at = rotated_at - interval '11 s'")
    replay = await auth_service.http.post(
        "/internal/sessions/refresh",
        json={"refresh_token": first["refresh_token"]},
        headers=headers,
    )
    assert replay.status_code == 401
    # The late replay revoked the whole family, including the legitimately rotated token.
    after = await auth_service.http.post(
        "/internal/sessions/refresh",
        json={"refresh_token": second["refresh_token"]},
        headers=headers,
    )
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(auth_service: AuthService) -> None:
    await register(auth_service)
    _, tokens = await login(auth_service)
    headers = await auth_service.as_gateway()
    body = {"refresh_token": tokens["refresh_token"]}
    assert (
        await auth_service.http.post("/internal/sessions/logout", json=body, headers=headers)
    ).status_code == 204
    assert (
        await auth_service.http.post("/internal/sessions/refresh", json=body, headers=headers)
    ).status_code == 401


async def test_rotation_keeps_the_previous_key_valid(auth_service: AuthService) -> None:
    await register(auth_service)
    _, before = await login(auth_service)
    headers = await auth_service.as_gateway()
    new_kid = (await auth_service.http.post("/internal/keys/rotate", headers=headers)).json()["kid"]
    _, after = await login(auth_service)
    assert jwt.get_unverified_header(str(after["access_token"]))["kid"] == new_kid
    validator = await validator_for(auth_service, "unifyops")
    assert (await validator.validate(str(before["access_token"]))).subject
    assert (await validator.validate(str(after["access_token"]))).subject


async def test_service_tokens_are_short_lived_and_audience_bound(auth_service: AuthService) -> None:
    response = await auth_service.service_token()
    assert response.status_code == 200
    token = response.json()
    assert token["expires_in"] <= 300
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert (claims["aud"], claims["sub"], claims["token_use"]) == (
        "auth-service",
        "auth-api",
        "service",
    )


@pytest.mark.parametrize(
    ("client_id", "secret", "audience", "status"),
    [
        ("auth-api", "wrong-secret-value", "auth-service", 401),
        ("nobody", "whatever-secret", "auth-service", 401),
        ("auth-api", "auth-api-secret-for-tests", "user-service", 403),
    ],
)
async def test_bad_client_credentials_or_audience(
    auth_service: AuthService, client_id: str, secret: str, audience: str, status: int
) -> None:
    response = await auth_service.service_token(client_id, secret, audience)
    assert response.status_code == status
    assert set(response.json()) >= {"error_id", "error_type", "message"}


async def test_guarded_routes_reject_missing_foreign_and_user_tokens(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    _, tokens = await login(auth_service)
    no_token = await auth_service.http.get("/internal/jwks")
    user_token = await auth_service.http.get(
        "/internal/jwks", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert no_token.status_code == 401
    assert user_token.status_code == 401  # audience unifyops, not auth-service
    assert no_token.json()["error_type"] == "invalid_service_token"


async def test_health_ready_checks_the_database(auth_service: AuthService) -> None:
    response = await auth_service.http.get("/health/ready")
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}
