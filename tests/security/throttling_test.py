"""Brute force, lockout and enumeration, as a stranger on the same machine would try them.

Runs after the other security tests (see conftest.py): it leaves this client address throttled,
and its tests run in file order for the same reason (each first sign-in from an unknown device
happens before the address is throttled).
Every client here shares one address (the published ports are on loopback), which is the hard
case: the owner's known device must still get in while the stranger is slowed.
"""

from __future__ import annotations

import random
import statistics
import time

import httpx

from e2e.environment import PASSWORD, Running
from security.attack import assert_uniform_error, login, register, remember, unique_email

ATTEMPTS = 40


def spoofed() -> dict[str, str]:
    """Headers a stranger adds hoping to look like many clients; the edge must ignore them."""
    address = f"198.51.100.{random.randint(1, 254)}"  # noqa: S311
    return {"X-Forwarded-For": address, "X-Real-IP": address, "Forwarded": f"for={address}"}


def retry_after(answer: httpx.Response) -> int:
    assert_uniform_error(answer, 429)
    value = answer.headers.get("retry-after", "")
    assert value.isdigit(), answer.headers
    assert int(value) > 0, answer.headers
    return int(value)


def test_unknown_email_and_wrong_password_look_the_same(running: Running) -> None:
    owner = unique_email("enum")
    register(running, owner)
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(3):
        for email, sink in ((owner, wrong), (unique_email("nobody"), unknown)):
            started = time.perf_counter()
            answer = login(running, email, "not the password")
            sink.append(time.perf_counter() - started)
            body = assert_uniform_error(answer, 401)
            assert body["message"] == "Invalid email or password"
    # Both paths run the password hash; an unknown email must not answer in a fraction of the time.
    assert statistics.median(unknown) > 0.5 * statistics.median(wrong), (unknown, wrong)


def test_the_owner_signed_in_through_an_app_keeps_getting_in(running: Running) -> None:
    owner = unique_email("app-owner")
    register(running, owner)
    with httpx.Client(base_url=running.url("user-app")) as browser:
        first = browser.post("/api/v1/auth/login", json={"email": owner, "password": PASSWORD})
        assert first.status_code == 200, first.text
        remember(first.json().get("access_token"), browser.cookies.get("uo_device"))
        for attempt in range(ATTEMPTS):
            stranger = httpx.post(
                running.url("auth-api", "/v1/auth/login"),
                json={"email": owner, "password": f"guess {attempt}"},
            )
            if stranger.status_code == 429:
                break
        again = browser.post("/api/v1/auth/login", json={"email": owner, "password": PASSWORD})
        assert again.status_code == 200, again.text


def test_a_stranger_cannot_lock_the_owner_out_but_is_slowed(running: Running) -> None:
    owner = unique_email("owner")
    register(running, owner)
    first = login(running, owner)
    assert first.status_code == 200, first.text
    device = first.json()["device_token"]
    assert device

    throttled = None
    for attempt in range(ATTEMPTS):
        answer = httpx.post(
            running.url("auth-api", "/v1/auth/login"),
            json={"email": owner, "password": f"guess {attempt}"},
            headers=spoofed(),
        )
        if answer.status_code == 429:
            throttled = answer
            break
        assert_uniform_error(answer, 401)
    assert throttled is not None, f"{ATTEMPTS} wrong passwords in a row were never slowed down"
    retry_after(throttled)
    # The right password from an unknown device would wait like the stranger (it is the same
    # address, and indistinguishable); the owner's own device is not locked out.
    owners = login(running, owner, device_token=device)
    assert owners.status_code == 200, owners.text


def test_the_throttle_answers_through_every_hop_with_retry_after(running: Running) -> None:
    victim = unique_email("hops")
    for door, path in (("auth-api", "/v1/auth/login"), ("auth-app", "/api/v1/auth/login")):
        answer = None
        for attempt in range(ATTEMPTS):
            answer = httpx.post(
                running.url(door, path), json={"email": victim, "password": f"guess {attempt}"}
            )
            if answer.status_code == 429:
                break
        assert answer is not None
        retry_after(answer)


def test_registration_is_throttled(running: Running) -> None:
    answer = None
    for _ in range(200):
        answer = httpx.post(
            running.url("auth-api", "/v1/auth/register"),
            json={"email": unique_email("flood"), "password": PASSWORD},
            headers=spoofed(),
        )
        if answer.status_code == 429:
            break
        assert answer.status_code == 201, answer.text
    assert answer is not None
    retry_after(answer)


def test_guessing_client_secrets_is_throttled(running: Running) -> None:
    answer = None
    for attempt in range(200):
        answer = httpx.post(
            running.url("auth-api", "/oauth/token"),
            data={"grant_type": "client_credentials", "audience": "user-service"},
            auth=("user-api", f"guess-{attempt}"),
            headers=spoofed(),
        )
        if answer.status_code == 429:
            break
        assert_uniform_error(answer, 401)
    assert answer is not None
    retry_after(answer)
