"""user-service against a real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import asyncio

import pytest

from unifyops.identity.user.user_service.conftest import UserService
from unifyops_core.testing import capture_logs


async def ensure(
    svc: UserService, subject: str = "u-1", email: str = "ada@example.com"
) -> dict[str, object]:
    response = await svc.http.put(
        f"/internal/profiles/{subject}", json={"email": email}, headers=svc.gateway_headers()
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_ensure_creates_once_and_is_idempotent(user_service: UserService) -> None:
    first = await ensure(user_service)
    again = await ensure(user_service, email="other@example.com")
    assert first == again
    assert (first["display_name"], first["version"], first["timezone"]) == ("ada", 1, "UTC")


async def test_concurrent_first_visits_create_one_profile(user_service: UserService) -> None:
    results = await asyncio.gather(*(ensure(user_service) for _ in range(10)))
    assert len({r["version"] for r in results}) == 1


async def test_update_bumps_version_and_stale_versions_get_412(user_service: UserService) -> None:
    await ensure(user_service)
    headers = user_service.gateway_headers()
    change = {
        "expected_version": 1,
        "changes": {"display_name": "Ada L.", "timezone": "Europe/London"},
    }
    updated = await user_service.http.patch("/internal/profiles/u-1", json=change, headers=headers)
    assert updated.status_code == 200
    assert (updated.json()["display_name"], updated.json()["version"]) == ("Ada L.", 2)
    stale = await user_service.http.patch(
        "/internal/profiles/u-1",
        json={"expected_version": 1, "changes": {"display_name": "Lost"}},
        headers=headers,
    )
    assert stale.status_code == 412
    assert stale.json()["details"] == {"expected_version": 1, "current_version": 2}
    current = await user_service.http.get("/internal/profiles/u-1", headers=headers)
    assert current.json()["display_name"] == "Ada L."


async def test_two_concurrent_updates_one_wins(user_service: UserService) -> None:
    await ensure(user_service)
    headers = user_service.gateway_headers()

    async def attempt(name: str) -> int:
        body = {"expected_version": 1, "changes": {"display_name": name}}
        return (
            await user_service.http.patch("/internal/profiles/u-1", json=body, headers=headers)
        ).status_code

    statuses = sorted(await asyncio.gather(attempt("A"), attempt("B")))
    assert statuses == [200, 412]


@pytest.mark.parametrize(
    "changes",
    [
        {"timezone": "Mars/Olympus"},
        {"display_name": ""},
        {"display_name": "x" * 101},
        {"email": "not-an-email"},
        {"preferences": {f"k{i}": i for i in range(51)}},
        {"unknown_field": 1},
    ],
)
async def test_invalid_updates_are_clear_422s(
    user_service: UserService, changes: dict[str, object]
) -> None:
    await ensure(user_service)
    response = await user_service.http.patch(
        "/internal/profiles/u-1",
        json={"expected_version": 1, "changes": changes},
        headers=user_service.gateway_headers(),
    )
    assert response.status_code == 422
    assert response.json()["error_type"] == "validation_error"
    assert response.json()["details"]["errors"]


async def test_missing_profile_is_404_db_record_not_found(user_service: UserService) -> None:
    response = await user_service.http.get(
        "/internal/profiles/nobody", headers=user_service.gateway_headers()
    )
    assert response.status_code == 404
    assert response.json()["error_type"] == "db_record_not_found"


async def test_list_pages(user_service: UserService) -> None:
    for i in range(3):
        await ensure(user_service, subject=f"u-{i}", email=f"u{i}@example.com")
    page = await user_service.http.get(
        "/internal/profiles?limit=2", headers=user_service.gateway_headers()
    )
    assert page.json()["total"] == 3
    assert len(page.json()["items"]) == 2


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"caller": "user-api", "audience": "auth-service"}, 401),  # a token for another service
        ({"caller": "environment-api", "audience": "user-service"}, 403),  # a neighbour's gateway
    ],
)
async def test_only_its_own_gateway_may_call(
    user_service: UserService, headers: dict[str, str], status: int
) -> None:
    sent = user_service.gateway_headers(**headers) if headers else {}
    response = await user_service.http.get("/internal/profiles", headers=sent)
    assert response.status_code == status


async def test_a_user_token_is_not_a_service_token(user_service: UserService) -> None:
    user_token = user_service.auth_key.mint(sub="u-1", aud="user-service", scope="profile:read")
    response = await user_service.http.get(
        "/internal/profiles", headers={"Authorization": f"Bearer {user_token}"}
    )
    assert response.status_code == 403
    assert response.json()["message"] == "A service token is required"


@pytest.mark.parametrize(
    "change",
    [
        {"expected_version": 2**31, "changes": {"display_name": "Ada"}},
        {"expected_version": 1, "changes": {"display_name": "Ada\u0000"}},
        {"expected_version": 1, "changes": {"preferences": {"k\u0000": "v"}}},
    ],
    ids=["version past int32", "NUL in a value", "NUL in a key"],
)
async def test_hostile_updates_are_a_quiet_422(
    user_service: UserService, change: dict[str, object]
) -> None:
    await ensure(user_service)
    with capture_logs() as logs:
        response = await user_service.http.patch(
            "/internal/profiles/u-1", json=change, headers=user_service.gateway_headers()
        )
    assert response.status_code == 422, response.text
    assert response.json()["error_type"] == "validation_error"
    assert all(record["level"] != "ERROR" for record in logs.records)
    assert "Traceback" not in logs.stream.getvalue()
    current = await user_service.http.get(
        "/internal/profiles/u-1", headers=user_service.gateway_headers()
    )
    assert current.json()["version"] == 1
