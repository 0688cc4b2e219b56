"""Session calls through the app server: refresh and device tokens live only in httpOnly cookies."""

from __future__ import annotations

import json

import httpx
import pytest

from uo_appserver import session
from uo_appserver.conftest import FakeGateway


def _sent(fake: FakeGateway) -> dict[str, object]:
    body = fake.seen[-1]["body"]
    assert isinstance(body, bytes)
    return dict(json.loads(body))


def _cookies(response: httpx.Response) -> dict[str, str]:
    return {value.split("=", 1)[0]: value for value in response.headers.get_list("Set-Cookie")}


def test_sign_in_refresh_and_sign_out_keep_tokens_out_of_the_page(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    with httpx.Client(base_url=app) as browser:
        login = browser.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "p"})
        assert login.status_code == 200
        assert login.json() == {"access_token": "a1", "expires_in": 900}
        assert login.headers["Cache-Control"] == "no-store"
        cookies = _cookies(login)
        assert cookies["uo_refresh"].startswith("uo_refresh=r1; Max-Age=1209600;")
        assert cookies["uo_device"].startswith("uo_device=d1; Max-Age=31536000;")
        for value in cookies.values():
            assert "HttpOnly" in value
            assert "SameSite=Strict" in value
            assert "Path=/api/v1/auth" in value
            assert "Secure" not in value
        assert "device_token" not in _sent(fake)  # no cookie yet

        refreshed = browser.post("/api/v1/auth/refresh", json={})
        assert refreshed.status_code == 200
        assert _sent(fake) == {"refresh_token": "r1"}
        # The answer's device_token (null on a refresh) is gone too.
        assert refreshed.json() == {"access_token": "a2", "expires_in": 900}

        logout = browser.post("/api/v1/auth/logout", json={})
        assert logout.status_code == 204
        assert _sent(fake) == {"refresh_token": "r1"}
        assert list(_cookies(logout)) == ["uo_refresh"]
        assert "Max-Age=0" in _cookies(logout)["uo_refresh"]

        # The device stays known after sign-out: the next sign-in carries its token.
        browser.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "bad"})
        assert _sent(fake) == {"email": "a@example.com", "password": "bad", "device_token": "d1"}


def test_a_token_the_page_sends_wins_over_the_cookie(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    headers = {"Cookie": "uo_device=d1; uo_refresh=r1"}
    httpx.post(
        f"{app}/api/v1/auth/login",
        json={"email": "e", "password": "p", "device_token": "d9"},
        headers=headers,
    )
    assert _sent(fake)["device_token"] == "d9"
    httpx.post(f"{app}/api/v1/auth/refresh", json={"refresh_token": "r9"}, headers=headers)
    assert _sent(fake) == {"refresh_token": "r9"}


def test_a_refused_refresh_forgets_the_session_cookie_only(app: str) -> None:
    refused = httpx.post(
        f"{app}/api/v1/auth/refresh", json={}, headers={"Cookie": "uo_refresh=stale; uo_device=d1"}
    )
    assert refused.status_code == 401
    assert refused.json()["error_type"] == "authentication_error"
    assert list(_cookies(refused)) == ["uo_refresh"]
    assert "Max-Age=0" in _cookies(refused)["uo_refresh"]


def test_a_wrong_password_sets_no_cookie(app: str) -> None:
    failed = httpx.post(f"{app}/api/v1/auth/login", json={"email": "e", "password": "x"})
    assert failed.status_code == 401
    assert "Set-Cookie" not in failed.headers


def test_malformed_session_bodies_go_on_unchanged_for_the_gateway_to_judge(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    httpx.post(f"{app}/api/v1/auth/logout", content=b"[1, 2", headers={"Cookie": "uo_refresh=r1"})
    assert fake.seen[-1]["body"] == b"[1, 2"


def test_cookies_are_secure_behind_tls_and_never_carry_unsafe_tokens() -> None:
    assert session.cookie("uo_device", "d1", max_age=5, secure=True).endswith("; Secure")
    body, cookies = session.answer(
        session.LOGIN,
        200,
        b'{"refresh_token": "r1; Domain=evil", "device_token": "d 1"}',
        secure=False,
    )
    assert cookies == []
    assert json.loads(body) == {}
    with pytest.raises(session.UnreadableAnswerError):
        session.answer(session.LOGIN, 200, b"<html>", secure=False)
