"""``/api/*`` through a real app server to a real (fake) gateway, both on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from uo_appserver.conftest import FakeGateway, app_server, running

UNIFORM = {"status_code", "message", "error_id", "error_type", "timestamp"}


def _assert_uniform(response: httpx.Response, status: int, error_type: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= UNIFORM
    assert body["status_code"] == status
    assert body["error_type"] == error_type
    assert response.headers["X-Error-ID"] == body["error_id"]
    return dict(body)


def _header(call: dict[str, object], name: str) -> list[str]:
    pairs = call["headers"]
    assert isinstance(pairs, list)
    return [value for key, value in pairs if key == name]


def test_forwards_method_path_query_body_and_headers_but_not_cookies(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    response = httpx.patch(
        f"{app}/api/v1/profile/a%2Fb?x=1&y=%20",
        content=b'{"display_name": "Ada"}',
        headers={
            "Authorization": "Bearer t",
            "If-Match": '"v1"',
            "Content-Type": "application/json",
            "Cookie": "uo_refresh=r1; uo_device=d1",
        },
    )
    assert response.status_code == 200
    assert response.json() == {"method": "PATCH", "length": 23}
    assert response.headers.get_list("X-Multi") == ["one", "two"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    call = fake.seen[-1]
    assert call["target"] == "/v1/profile/a%2Fb?x=1&y=%20"
    assert call["body"] == b'{"display_name": "Ada"}'
    assert _header(call, "authorization") == ["Bearer t"]
    assert _header(call, "if-match") == ['"v1"']
    assert _header(call, "cookie") == []
    assert _header(call, "x-forwarded-proto") == ["http"]


def test_a_cookie_the_gateway_set_for_one_browser_never_reaches_it_with_another(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    assert httpx.get(f"{app}/api/v1/sets-cookie").status_code == 200
    httpx.get(f"{app}/api/v1/profile")  # another browser, no cookie of its own
    assert _header(fake.seen[-1], "cookie") == []


def test_the_client_address_is_replaced_never_passed_on(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    httpx.get(
        f"{app}/api/v1/profile",
        headers={
            "X-Forwarded-For": "198.51.100.1, 203.0.113.7",  # the edge appended the last entry
            "X-Real-IP": "198.51.100.1",
            "Forwarded": "for=198.51.100.1",
        },
    )
    call = fake.seen[-1]
    assert _header(call, "x-forwarded-for") == ["203.0.113.7"]
    assert _header(call, "x-real-ip") == []
    assert _header(call, "forwarded") == []
    httpx.get(f"{app}/api/v1/profile", headers={"X-Forwarded-For": "not-an-address"})
    assert _header(fake.seen[-1], "x-forwarded-for") == ["127.0.0.1"]  # the TCP peer


def test_a_rate_limit_keeps_its_body_and_every_header(app: str) -> None:
    response = httpx.post(f"{app}/api/v1/limited", json={})
    body = _assert_uniform(response, 429, "rate_limited")
    assert body["error_id"] == "gw-429"  # relayed, not re-invented
    assert response.headers["Retry-After"] == "17"
    assert response.headers["X-RateLimit-Policy"] == "login"


def test_gateway_errors_that_are_not_uniform_become_uniform_and_name_no_host(app: str) -> None:
    crash = httpx.get(f"{app}/api/v1/crash")
    body = _assert_uniform(crash, 502, "downstream_error")
    assert "db.internal" not in crash.text
    assert "internal" not in str(body["message"])
    _assert_uniform(httpx.get(f"{app}/api/v1/html-404"), 404, "not_found")


def test_a_gateway_that_is_down_or_slow_is_a_uniform_503_or_504(bundle: Path, app: str) -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{unused.getsockname()[1]}"
        with running(app_server(bundle, down)) as lonely:
            response = httpx.get(f"{lonely}/api/v1/profile")
    body = _assert_uniform(response, 503, "dependency_unavailable")
    assert "127.0.0.1" not in str(body["message"])
    slow = httpx.get(f"{app}/api/v1/slow", timeout=10)  # the app server waits 1 s here
    _assert_uniform(slow, 504, "upstream_timeout")


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    parts = urlsplit(app)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        # Headers only: an app server that waited for the 2 MB would time out here.
        raw.sendall(
            b"POST /api/v1/profile HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000\r\n\r\n"
        )
        answer = _read_all(raw)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"error_type":"payload_too_large"' in answer.replace(b" ", b"")

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 64 * 1024  # 2.5 MiB in all, no Content-Length

    streamed = httpx.post(f"{app}/api/v1/profile", content=chunks())
    _assert_uniform(streamed, 413, "payload_too_large")
    assert all(call["target"] != "/v1/profile" or call["method"] != "POST" for call in fake.seen)
    just_fits = httpx.post(f"{app}/api/v1/profile", content=b"x" * 1024 * 1024)
    assert just_fits.json() == {"method": "POST", "length": 1024 * 1024}


def test_deep_json_on_a_session_call_is_a_400_and_the_server_goes_on(
    app: str, gateway: tuple[FakeGateway, str]
) -> None:
    fake, _ = gateway
    deep = b'{"email": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = httpx.post(
        f"{app}/api/v1/auth/login", content=deep, headers={"Content-Type": "application/json"}
    )
    _assert_uniform(response, 400, "bad_request")
    assert fake.seen == []
    # Elsewhere the app server does not parse bodies at all: the gateway gets the bytes.
    relayed = httpx.post(f"{app}/api/v1/notes", content=deep)
    assert relayed.json()["length"] == len(deep)
    assert httpx.get(f"{app}/health/live").status_code == 200


def test_unknown_methods_on_the_api_are_a_uniform_405(app: str) -> None:
    _assert_uniform(httpx.request("TRACE", f"{app}/api/v1/profile"), 405, "method_not_allowed")


def _read_all(raw: socket.socket) -> bytes:
    data = b""
    while chunk := raw.recv(65536):
        data += chunk
    return data


def test_each_relayed_request_is_named_and_has_one_access_line(
    app: str, gateway: tuple[FakeGateway, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, _ = gateway
    assert httpx.get(f"{app}/api/v1/a?token=s3cret", headers={"X-Request-ID": "edge-1"}).is_success
    httpx.get(f"{app}/api/v1/b", headers={"X-Request-ID": "not ok!"})
    assert _header(fake.seen[-2], "x-request-id") == ["edge-1"]
    [new_id] = _header(fake.seen[-1], "x-request-id")
    assert new_id != "not ok!"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    access = [line for line in lines if line.get("event") == "access"]
    assert [(a["request_id"], a["method"], a["path"], a["status"]) for a in access] == [
        ("edge-1", "GET", "/api/v1/a", 200),  # the query (a token, maybe) is not logged
        (new_id, "GET", "/api/v1/b", 200),
    ]
    assert all(isinstance(a["duration_ms"], float) for a in access)
