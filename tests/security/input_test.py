"""Hostile JSON and headers at the gateways: every one a 4xx in the uniform shape, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from e2e.environment import Running, bearer
from security.attack import assert_uniform_error, member


@pytest.fixture(scope="module")
def user(running: Running) -> dict[str, str]:
    tokens = member(running)[1]
    return bearer(tokens["access_token"])


def etag(running: Running, headers: dict[str, str]) -> str:
    profile = httpx.get(running.url("user-api", "/v1/profile"), headers=headers)
    assert profile.status_code == 200, profile.text
    return profile.headers["ETag"]


HOSTILE_BODIES = {
    "NUL in a string": '{"display_name": "Ada\\u0000Lovelace"}',
    "NUL in a key": '{"preferences": {"the\\u0000key": "x"}}',
    "NUL in a nested value": '{"preferences": {"theme": "dark\\u0000"}}',
    "NaN": '{"preferences": {"ratio": NaN}}',
    "Infinity": '{"preferences": {"ratio": Infinity}}',
    "-Infinity": '{"preferences": {"ratio": -Infinity}}',
    "1e400": '{"preferences": {"ratio": 1e400}}',
    "a 400-digit integer": '{"preferences": {"n": ' + "9" * 400 + "}}",
    "lone surrogate": '{"display_name": "\\ud800"}',
    "wrong types": '{"display_name": {"$ne": null}, "timezone": ["UTC"]}',
    "a 50 000 character name": '{"display_name": "' + "a" * 50_000 + '"}',
    "a list instead of an object": "[1, 2, 3]",
    "duplicate keys": '{"display_name": "a", "display_name": "' + "b" * 500 + '"}',
    "unknown timezone": '{"timezone": "../../etc/passwd"}',
    "SQL in a string": '{"display_name": "x\'); DROP TABLE profiles; --"}',
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
def test_hostile_json_never_causes_a_5xx(running: Running, user: dict[str, str], case: str) -> None:
    answer = httpx.patch(
        running.url("user-api", "/v1/profile"),
        content=HOSTILE_BODIES[case],
        headers={**user, "If-Match": etag(running, user), "Content-Type": "application/json"},
    )
    if case == "SQL in a string":
        assert answer.status_code == 200, answer.text  # stored as text, nothing executed
        assert answer.json()["display_name"].startswith("x');")
        return
    if case == "a 400-digit integer":
        # An exact number is storable (PostgreSQL's jsonb keeps it); refusing it is allowed too.
        assert answer.status_code in (200, 422), answer.text
        return
    assert_uniform_error(answer, 400, 413, 422)


@pytest.mark.parametrize(
    "if_match",
    [
        '"v2147483648"',
        '"v99999999999999999999999"',
        '"v-1"',
        '"v0"',
        '"v1.5"',
        '"v\x00"',
        "*",
        '"v1", "v2"',
    ],
)
def test_hostile_if_match_is_a_4xx(running: Running, user: dict[str, str], if_match: str) -> None:
    try:
        answer = httpx.patch(
            running.url("user-api", "/v1/profile"),
            json={"display_name": "Ada"},
            headers={**user, "If-Match": if_match},
        )
    except httpx.LocalProtocolError:
        return  # the client itself refuses to send a NUL in a header
    assert_uniform_error(answer, 400, 409, 412, 422, 428)


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "a\\u0000@example.com", "password": "a long enough passphrase"}',
        '{"email": "a@example.com", "password": "a long enough\\u0000passphrase"}',
        '{"email": "a@example.com", "password": NaN}',
        '{"email": "' + "a" * 5000 + '@example.com", "password": "a long enough passphrase"}',
    ],
)
@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/login"])
def test_hostile_credentials_are_a_4xx(running: Running, path: str, body: str) -> None:
    answer = httpx.post(
        running.url("auth-api", path), content=body, headers={"Content-Type": "application/json"}
    )
    assert_uniform_error(answer, 400, 401, 413, 422)


def test_hostile_query_parameters_are_a_4xx(running: Running) -> None:
    assert running.outcome.login is not None
    email, password = running.outcome.login
    from security.attack import login

    admin = bearer(login(running, email, password).json()["access_token"])
    for params in (
        {"limit": "2147483648"},
        {"offset": "99999999999999999999"},
        {"limit": "NaN"},
        {"offset": "\x00"},
    ):
        answer = httpx.get(running.url("user-api", "/v1/profiles"), params=params, headers=admin)
        assert_uniform_error(answer, 400, 422)
    for name in ("prod%00", "..%2F..%2Fetc%2Fpasswd", "a" * 5000, "%00"):
        answer = httpx.get(
            running.url("environment-api", f"/v1/environments/{name}"), headers=admin
        )
        assert_uniform_error(answer, 400, 404, 422)
