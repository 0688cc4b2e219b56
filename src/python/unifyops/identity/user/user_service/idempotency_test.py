"""Profile updates with an Idempotency-Key, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from unifyops.identity.user.user_service.conftest import UserService
from unifyops.identity.user.user_service.service_test import ensure

CHANGE = {"expected_version": 1, "changes": {"display_name": "Ada L."}}


async def patch(
    svc: UserService, body: dict[str, Any], key: str | None, subject: str = "u-1"
) -> Any:
    headers = svc.gateway_headers() | ({"Idempotency-Key": key} if key else {})
    return await svc.http.patch(f"/internal/profiles/{subject}", json=body, headers=headers)


async def version(svc: UserService, subject: str = "u-1") -> int:
    response = await svc.http.get(f"/internal/profiles/{subject}", headers=svc.gateway_headers())
    return int(response.json()["version"])


async def test_a_repeat_gets_the_first_answer_without_applying_twice(
    user_service: UserService,
) -> None:
    await ensure(user_service)
    first = await patch(user_service, CHANGE, "key-1")
    again = await patch(user_service, CHANGE, "key-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert first.json()["version"] == 2
    assert await version(user_service) == 2
    # Without a key the same body is a new update, and its version precondition fails.
    assert (await patch(user_service, CHANGE, None)).status_code == 412


async def test_concurrent_repeats_apply_once(user_service: UserService) -> None:
    await ensure(user_service)
    answers = await asyncio.gather(*(patch(user_service, CHANGE, "key-c") for _ in range(8)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.text for answer in answers}) == 1
    assert await version(user_service) == 2


async def test_the_same_key_for_a_different_request_is_a_422(user_service: UserService) -> None:
    await ensure(user_service)
    assert (await patch(user_service, CHANGE, "key-2")).status_code == 200
    other = {"expected_version": 2, "changes": {"display_name": "Someone else"}}
    reused = await patch(user_service, other, "key-2")
    assert reused.status_code == 422
    assert reused.json()["details"] == {"header": "Idempotency-Key"}
    assert await version(user_service) == 2


async def test_a_failed_write_stores_nothing_so_a_retry_is_evaluated_again(
    user_service: UserService,
) -> None:
    await ensure(user_service)
    stale = {"expected_version": 7, "changes": {"display_name": "Nope"}}
    assert (await patch(user_service, stale, "key-3")).status_code == 412
    assert (await patch(user_service, stale, "key-3")).status_code == 412
    # The same key is still free for the request that succeeds.
    assert (await patch(user_service, CHANGE, "key-3")).status_code == 200


async def test_keys_are_per_subject_and_malformed_keys_are_refused(
    user_service: UserService,
) -> None:
    await ensure(user_service, "u-1")
    await ensure(user_service, "u-2", "bob@example.com")
    assert (await patch(user_service, CHANGE, "shared", "u-1")).status_code == 200
    assert (await patch(user_service, CHANGE, "shared", "u-2")).json()["version"] == 2
    bad = await patch(user_service, CHANGE, "not a key!")
    assert bad.status_code == 422
