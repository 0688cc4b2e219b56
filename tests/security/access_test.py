"""Privilege escalation and IDOR: what a stranger's own account can and cannot reach."""

from __future__ import annotations

import httpx
import jwt

from e2e.environment import Running, bearer
from security.attack import assert_uniform_error, login, member, register, unique_email


def scopes_of(token: str) -> set[str]:
    claims = jwt.decode(token, options={"verify_signature": False})
    return set(str(claims.get("scope", "")).split())


def test_a_fresh_account_gets_only_its_own_profile(running: Running) -> None:
    _, tokens = member(running)
    assert scopes_of(tokens["access_token"]) == {"profile:read", "profile:write"}
    headers = bearer(tokens["access_token"])
    assert httpx.get(running.url("user-api", "/v1/profile"), headers=headers).status_code == 200
    for path in ("/v1/environments", "/v1/environments/prod", "/v1/deployments"):
        assert_uniform_error(httpx.get(running.url("environment-api", path), headers=headers), 403)
    diff = httpx.get(
        running.url("environment-api", "/v1/promotions/diff"),
        params={"source": "staging", "target": "prod"},
        headers=headers,
    )
    assert_uniform_error(diff, 403)
    record = httpx.post(
        running.url("environment-api", "/v1/deployments"),
        json={"environment": "prod", "stack": "user", "images": {}},
        headers=headers,
    )
    assert_uniform_error(record, 403, 422)
    assert_uniform_error(httpx.get(running.url("user-api", "/v1/profiles"), headers=headers), 403)


def test_registration_cannot_ask_for_scopes_or_roles(running: Running) -> None:
    email = unique_email()
    answer = httpx.post(
        running.url("auth-api", "/v1/auth/register"),
        json={
            "email": email,
            "password": "a long enough passphrase",
            "scopes": ["admin", "deployments:write"],
            "roles": ["admin"],
            "is_admin": True,
        },
    )
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 201:
        tokens = login(running, email).json()
        assert scopes_of(tokens["access_token"]) == {"profile:read", "profile:write"}


def test_the_operator_is_admin(running: Running) -> None:
    assert running.outcome.login is not None
    email, password = running.outcome.login
    answer = login(running, email, password)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert "environments:read" in scopes_of(token)
    listing = httpx.get(running.url("user-api", "/v1/profiles"), headers=bearer(token))
    assert listing.status_code == 200, listing.text
    environments = httpx.get(
        running.url("environment-api", "/v1/environments"), headers=bearer(token)
    )
    assert environments.status_code == 200, environments.text


def test_one_user_cannot_read_or_change_anothers_profile(running: Running) -> None:
    victim_email, victim = member(running)
    _, attacker = member(running)
    victim_subject = jwt.decode(victim["access_token"], options={"verify_signature": False})["sub"]
    headers = bearer(attacker["access_token"])
    for path in (f"/v1/profiles/{victim_subject}", f"/v1/profile?subject={victim_subject}"):
        answer = httpx.get(running.url("user-api", path), headers=headers)
        if answer.status_code == 200:  # the query string is ignored: the attacker's own profile
            assert answer.json()["email"] != victim_email
        else:
            assert_uniform_error(answer, 403, 404)
    # Mass assignment: fields that name someone else or privileges are not settable.
    mine = httpx.get(running.url("user-api", "/v1/profile"), headers=headers)
    changed = httpx.patch(
        running.url("user-api", "/v1/profile"),
        json={"subject": victim_subject, "id": victim_subject, "user_id": victim_subject},
        headers={**headers, "If-Match": mine.headers["ETag"]},
    )
    assert changed.status_code in (200, 422), changed.text
    victims_view = httpx.get(
        running.url("user-api", "/v1/profile"), headers=bearer(victim["access_token"])
    )
    assert victims_view.json()["email"] == victim_email
    attackers_view = httpx.get(running.url("user-api", "/v1/profile"), headers=headers)
    assert attackers_view.json()["email"] != victim_email


def test_a_token_from_one_stacks_audience_does_not_open_another(running: Running) -> None:
    """Access tokens are for the gateways; the operator's admin token works on user-api but a
    registration with the same email as the operator is refused (no account takeover)."""
    assert running.outcome.login is not None
    operator_email, _ = running.outcome.login
    answer = httpx.post(
        running.url("auth-api", "/v1/auth/register"),
        json={"email": operator_email.upper(), "password": "a long enough passphrase"},
    )
    assert_uniform_error(answer, 409, 429)
    register(running, unique_email())  # an ordinary registration still works
