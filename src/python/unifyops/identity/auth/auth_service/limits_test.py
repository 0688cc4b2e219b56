"""Abuse limits against a real PostgreSQL: a stranger can slow strangers down, never lock the
owner's known devices out; blocked attempts cost no password check."""

from __future__ import annotations

import base64

import httpx
import pytest

from unifyops.identity.auth.auth_service import accounts
from unifyops.identity.auth.auth_service.conftest import GATEWAY_SECRET, AuthService
from unifyops.identity.auth.auth_service.passwords import verify_secret
from unifyops.identity.auth.auth_service.service_test import PASSWORD, login, register

UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}
WRONG = "not the password at all"
STRANGER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The argon2 verifications sign-in runs (one entry per call)."""
    calls: list[str] = []

    def counting(secret_hash: str | None, secret: str) -> bool:
        calls.append(secret)
        return verify_secret(secret_hash, secret)

    monkeypatch.setattr(accounts, "verify_secret", counting)
    return calls


def assert_rate_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) >= UNIFORM_KEYS
    assert (body["status_code"], body["error_type"]) == (429, "rate_limited")
    return int(response.headers["Retry-After"])


async def raw_login(
    svc: AuthService,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    *,
    device_token: object = None,
    address: str = STRANGER,
) -> httpx.Response:
    return await svc.http.post(
        "/internal/sessions",
        json={"email": email, "password": password, "device_token": device_token},
        headers={**await svc.as_gateway(), "X-Forwarded-For": address},
    )


async def test_a_stranger_cannot_lock_the_owners_known_device_out(
    auth_service: AuthService, password_checks: list[str]
) -> None:
    await register(auth_service)
    status, first = await login(auth_service, address=OWNER)
    assert status == 200
    device_token = first["device_token"]
    assert isinstance(device_token, str)
    assert len(device_token) >= 32
    password_checks.clear()

    statuses = [
        (await raw_login(auth_service, password=WRONG, device_token="forged")).status_code
        for _ in range(50)
    ]
    # Three failures are checked (the account's free failures), then strangers wait.
    assert statuses == [401] * 3 + [429] * 47
    assert len(password_checks) == 3
    # Unknown devices wait too, from any address, even with the right password...
    assert_rate_limited(await raw_login(auth_service, address="192.0.2.1"))
    # ...but the owner's known device signs in, even from the stranger's address.
    status, again = await login(auth_service, device_token=device_token, address=STRANGER)
    assert status == 200, again
    assert again["device_token"] not in (None, device_token)  # replaced on every sign-in


async def test_backoff_doubles_and_blocked_attempts_check_no_password(
    auth_service: AuthService, password_checks: list[str]
) -> None:
    await register(auth_service)
    for _ in range(3):
        assert (await raw_login(auth_service, password=WRONG)).status_code == 401
    waits = []
    for _ in range(3):
        checks_before = len(password_checks)
        waits.append(assert_rate_limited(await raw_login(auth_service, password=WRONG)))
        assert len(password_checks) == checks_before  # answered before argon2
        await auth_service.wait_out_blocks()
        assert (await raw_login(auth_service, password=WRONG)).status_code == 401
    # Counted from when each failure was charged (before its password check): a little less.
    for wait, step in zip(waits, [60, 120, 240], strict=True):
        assert step - 10 < wait <= step


async def test_the_right_password_from_a_new_device_resets_the_account_count(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    for _ in range(2):
        assert (await raw_login(auth_service, password=WRONG)).status_code == 401
    assert (await raw_login(auth_service)).status_code == 200
    for _ in range(3):
        assert (await raw_login(auth_service, password=WRONG)).status_code == 401
    assert_rate_limited(await raw_login(auth_service, password=WRONG))


async def test_credential_stuffing_from_one_address_is_slowed(
    auth_service: AuthService, password_checks: list[str]
) -> None:
    await register(auth_service)
    _, owner = await login(auth_service, address=STRANGER)  # the owner shares the address (NAT)
    password_checks.clear()
    for n in range(6):
        response = await raw_login(auth_service, f"victim{n}@example.com", WRONG)
        assert response.status_code == 401
    assert_rate_limited(await raw_login(auth_service, "victim99@example.com", WRONG))
    assert len(password_checks) == 6
    # Another address is not affected; a known device at this address is not either.
    assert (await raw_login(auth_service, "x@example.com", WRONG, address=OWNER)).status_code == 401
    status, _ = await login(auth_service, device_token=owner["device_token"], address=STRANGER)
    assert status == 200


async def test_a_known_devices_failures_limit_only_that_device(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    _, first = await login(auth_service, address=OWNER)
    stolen = first["device_token"]
    free = auth_service.settings.login_free_failures_per_device
    for _ in range(free):
        response = await raw_login(auth_service, password=WRONG, device_token=stolen)
        assert response.status_code == 401
    assert_rate_limited(await raw_login(auth_service, device_token=stolen))
    # The account itself was not charged: the owner signs in from another device.
    assert (await raw_login(auth_service, address=OWNER)).status_code == 200


async def test_a_device_token_of_another_account_counts_as_unknown(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    await register(auth_service, email="eve@example.com")
    _, eve = await login(auth_service, email="eve@example.com", address=STRANGER)
    for _ in range(3):
        response = await raw_login(auth_service, password=WRONG, device_token=eve["device_token"])
        assert response.status_code == 401
    assert_rate_limited(await raw_login(auth_service, device_token=eve["device_token"]))


async def test_unknown_email_is_limited_like_a_registered_one(auth_service: AuthService) -> None:
    for _ in range(3):
        response = await raw_login(auth_service, "nobody@example.com", WRONG)
        assert response.status_code == 401
    wait = assert_rate_limited(await raw_login(auth_service, "nobody@example.com", WRONG))
    assert 50 < wait <= 60  # the same first step as for a registered account


async def test_registration_is_limited_per_address(auth_service: AuthService) -> None:
    headers = {**await auth_service.as_gateway(), "X-Forwarded-For": STRANGER}

    async def register_as(email: str, headers: dict[str, str]) -> httpx.Response:
        body = {"email": email, "password": PASSWORD}
        return await auth_service.http.post("/internal/accounts", json=body, headers=headers)

    statuses = [(await register_as(f"u{n % 4}@example.com", headers)).status_code for n in range(5)]
    assert statuses == [201] * 4 + [409]  # a duplicate counts too
    wait = assert_rate_limited(await register_as("late@example.com", headers))
    assert 0 < wait <= auth_service.settings.registration_window_seconds
    other = {**headers, "X-Forwarded-For": OWNER}
    assert (await register_as("late@example.com", other)).status_code == 201


async def token_as(
    svc: AuthService, secret: str, address: str | None, client_id: str = "auth-api"
) -> httpx.Response:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    if address:
        headers["X-Forwarded-For"] = address
    return await svc.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "audience": "auth-service"},
        headers=headers,
    )


async def test_client_credential_failures_are_limited_but_known_callers_keep_their_tokens(
    auth_service: AuthService,
) -> None:
    assert (await token_as(auth_service, GATEWAY_SECRET, None)).status_code == 200  # the gateway
    for _ in range(3):
        assert (await token_as(auth_service, "guessed-secret", STRANGER)).status_code == 401
    # The stranger's address waits, even with the right secret...
    assert_rate_limited(await token_as(auth_service, GATEWAY_SECRET, STRANGER))
    # ...guessing for this client from elsewhere waits too...
    assert_rate_limited(await token_as(auth_service, "guessed-secret", "192.0.2.44"))
    # ...but the address the gateway got its tokens from is not held up.
    assert (await token_as(auth_service, GATEWAY_SECRET, None)).status_code == 200


async def test_implausible_client_ids_are_refused_and_counted(auth_service: AuthService) -> None:
    for client_id in ("nul\x00byte", "x" * 300, "ok-but-unknown"):
        response = await token_as(auth_service, "whatever-secret", STRANGER, client_id)
        assert response.status_code == 401, response.text
