"""Malformed and oversized HTTP at every published port: an answer in the uniform shape, quickly,
never a reset, a hang or a server-side traceback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from e2e.environment import Running
from security.attack import assert_uniform_error, raw_request, request_head, unique_email
from unifyops_core.naming import STACKS

GATEWAYS = [f"{stack}-api" for stack in STACKS]
APPS = [f"{stack}-app" for stack in STACKS]
# Where each kind of front door accepts a JSON body from anyone.
LOGIN = {**dict.fromkeys(GATEWAYS, "/v1/auth/login"), **dict.fromkeys(APPS, "/api/v1/auth/login")}
MIB = 1024 * 1024


def host_of(running: Running, name: str) -> str:
    return urlsplit(running.url(name)).netloc


MALFORMED: dict[str, Callable[[str], bytes]] = {
    "garbage request line": lambda host: b"\x16\x03\x01\x02\x00 HELLO\r\n\r\n",
    "no HTTP version": lambda host: b"GET /\r\n\r\n",
    "Content-Length not a number": lambda host: request_head(
        "POST", "/v1/auth/login", host, "Content-Length: abc", "Content-Type: application/json"
    ),
    "negative Content-Length": lambda host: request_head(
        "POST", "/v1/auth/login", host, "Content-Length: -1", "Content-Type: application/json"
    ),
    "Content-Length and chunked both": lambda host: (
        request_head(
            "POST",
            "/v1/auth/login",
            host,
            "Content-Length: 4",
            "Transfer-Encoding: chunked",
            "Content-Type: application/json",
        )
        + b"0\r\n\r\n"
    ),
    "two different Content-Lengths": lambda host: (
        request_head("POST", "/v1/auth/login", host, "Content-Length: 2", "Content-Length: 3")
        + b"{}"
    ),
    "a 100 KiB header": lambda host: request_head(
        "GET", "/health/live", host, "X-Big: " + "a" * 100_000
    ),
    "10 000 headers": lambda host: request_head(
        "GET", "/health/live", host, *(f"X-H{i}: v" for i in range(10_000))
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("door", GATEWAYS[:1] + APPS[:1])
def test_malformed_requests_get_a_uniform_4xx(running: Running, door: str, case: str) -> None:
    answer = raw_request(running.url(door), MALFORMED[case](host_of(running, door)))
    assert 400 <= answer.status_code < 500, answer.text
    assert_uniform_error(answer, answer.status_code)


@pytest.mark.parametrize("door", sorted(LOGIN))
def test_a_huge_declared_body_is_refused_before_it_is_sent(running: Running, door: str) -> None:
    """Only the head of a 20 MiB request is sent: the answer must come without reading the body."""
    head = request_head(
        "POST",
        LOGIN[door],
        host_of(running, door),
        f"Content-Length: {20 * MIB}",
        "Content-Type: application/json",
    )
    answer = raw_request(running.url(door), head, timeout=10)
    assert_uniform_error(answer, 413)


@pytest.mark.parametrize("door", [GATEWAYS[0], APPS[0]])
def test_a_huge_chunked_body_is_cut_off(running: Running, door: str) -> None:
    def chunks() -> Iterator[bytes]:
        piece = b"[" * 64 * 1024
        for _ in range(64):  # 4 MiB, over every limit
            yield piece

    try:
        answer = httpx.post(
            running.url(door, LOGIN[door]),
            content=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    except httpx.TransportError:
        # Closing the connection mid-upload after the 413 is allowed; what matters is that the
        # server stopped reading. (Some clients see the close before the answer.)
        return
    # 502 from the edge: the tier refused and reset the connection mid-upload, which discards
    # its 413 on the way back (as nginx's "upstream prematurely closed" 502); still uniform.
    assert_uniform_error(answer, 413, 400, 422, 502)


@pytest.mark.parametrize("door", sorted(LOGIN))
def test_deeply_nested_json_is_a_4xx(running: Running, door: str) -> None:
    body = '{"email": "a@example.com", "password": ' + "[" * 10_000 + "]" * 10_000 + "}"
    answer = httpx.post(
        running.url(door, LOGIN[door]),
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert_uniform_error(answer, 400, 413, 422)


@pytest.mark.parametrize("door", sorted(LOGIN))
def test_not_json_and_wrong_content_types_are_4xx(running: Running, door: str) -> None:
    for content, kind in (
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"email=a@example.com&password=x", "application/x-www-form-urlencoded"),
        (json.dumps({"email": unique_email(), "password": "x"}).encode()[:-1], "application/json"),
    ):
        answer = httpx.post(
            running.url(door, LOGIN[door]), content=content, headers={"Content-Type": kind}
        )
        assert_uniform_error(answer, 400, 401, 415, 422)


@pytest.mark.parametrize("door", GATEWAYS + APPS)
def test_api_responses_carry_nosniff(running: Running, door: str) -> None:
    path = "/v1/profile" if door in GATEWAYS else "/api/v1/profile"
    answer = httpx.get(running.url(door, path))  # 401 (user-api) or 404 (the others)
    assert_uniform_error(answer, 401, 404)
    assert answer.headers.get("x-content-type-options") == "nosniff"
