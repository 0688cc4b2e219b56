"""Sessions and browser-facing headers: refresh rotation with a grace window, cookies the page
cannot read, no cross-origin reads, personal data never cached. (API docs off outside development
is a per-environment setting proven by core's tests: environment ``test`` is a development one.)"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from e2e.environment import PASSWORD, Running, bearer
from security.attack import assert_uniform_error, member, register, remember, unique_email
from unifyops_core.naming import STACKS

# auth-service's default reuse grace window (seconds) for a rotated refresh token.
REFRESH_REUSE_GRACE = 10


def refresh(running: Running, token: str) -> httpx.Response:
    answer = httpx.post(running.url("auth-api", "/v1/auth/refresh"), json={"refresh_token": token})
    if answer.status_code == 200:
        remember(answer.json()["access_token"], answer.json()["refresh_token"])
    return answer


def test_two_apps_refreshing_the_same_token_at_once_stay_signed_in(running: Running) -> None:
    _, tokens = member(running)

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient() as http:
            url = running.url("auth-api", "/v1/auth/refresh")
            body = {"refresh_token": tokens["refresh_token"]}
            return list(await asyncio.gather(http.post(url, json=body), http.post(url, json=body)))

    first, second = asyncio.run(both())
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    for answer in (first, second):
        remember(answer.json()["refresh_token"], answer.json()["access_token"])
        assert refresh(running, answer.json()["refresh_token"]).status_code == 200


def test_reuse_after_the_grace_window_ends_the_whole_session(running: Running) -> None:
    _, tokens = member(running)
    rotated = refresh(running, tokens["refresh_token"])
    assert rotated.status_code == 200
    time.sleep(REFRESH_REUSE_GRACE + 1)
    assert_uniform_error(refresh(running, tokens["refresh_token"]), 401)
    # The thief's replay revoked the family: the legitimate holder's newer token is dead too.
    assert_uniform_error(refresh(running, rotated.json()["refresh_token"]), 401)


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_keeps_long_lived_credentials_in_cookies_the_page_cannot_read(
    running: Running, stack: str
) -> None:
    email = unique_email()
    register(running, email)
    answer = httpx.post(
        running.url(f"{stack}-app", "/api/v1/auth/login"),
        json={"email": email, "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    remember(body.get("access_token"))
    assert "refresh_token" not in body or not body["refresh_token"]
    assert "device_token" not in body or not body["device_token"]
    cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
    assert set(cookies) >= {"uo_refresh", "uo_device"}, cookies
    for name in ("uo_refresh", "uo_device"):
        remember(answer.cookies.get(name))
        assert "httponly" in cookies[name]
        assert "samesite=strict" in cookies[name]
        assert "path=/api/v1/auth" in cookies[name]
    assert answer.headers.get("cache-control", "").startswith("no-store")


@pytest.mark.parametrize("door", [f"{s}-api" for s in STACKS])
def test_no_cross_origin_reads(running: Running, door: str) -> None:
    evil = {"Origin": "https://evil.example"}
    preflight = httpx.options(
        running.url(door, "/v1/profile"),
        headers={
            **evil,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    actual = httpx.get(running.url(door, "/v1/profile"), headers=evil)
    assert actual.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    assert actual.headers.get("access-control-allow-credentials") != "true"


def test_personal_data_is_never_cached(running: Running) -> None:
    _, tokens = member(running)
    profile = httpx.get(
        running.url("user-api", "/v1/profile"), headers=bearer(tokens["access_token"])
    )
    assert profile.status_code == 200
    assert "no-store" in profile.headers.get("cache-control", "")
    via_app = httpx.get(
        running.url("user-app", "/api/v1/profile"), headers=bearer(tokens["access_token"])
    )
    assert via_app.status_code == 200
    assert "no-store" in via_app.headers.get("cache-control", "")


def test_logout_ends_the_session(running: Running) -> None:
    _, tokens = member(running)
    out = httpx.post(
        running.url("auth-api", "/v1/auth/logout"), json={"refresh_token": tokens["refresh_token"]}
    )
    assert out.status_code == 204
    assert_uniform_error(refresh(running, tokens["refresh_token"]), 401)
