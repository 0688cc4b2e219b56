"""Registration with an Idempotency-Key, against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx

from unifyops.identity.auth.auth_service.conftest import AuthService
from unifyops.identity.auth.auth_service.service_test import PASSWORD, login


async def register(
    svc: AuthService, email: str, key: str, gateway: dict[str, str] | None = None
) -> httpx.Response:
    headers = (gateway or await svc.as_gateway()) | {"Idempotency-Key": key}
    return await svc.http.post(
        "/internal/accounts", json={"email": email, "password": PASSWORD}, headers=headers
    )


async def test_a_repeated_registration_gets_the_first_answer(auth_service: AuthService) -> None:
    gateway = await auth_service.as_gateway()  # one service token for the concurrent calls
    answers = await asyncio.gather(
        *(register(auth_service, "ada@example.com", "reg-1", gateway) for _ in range(4))
    )
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert (await login(auth_service))[0] == 200
    # Without the key, the same registration is a conflict: the account exists once.
    second = await register(auth_service, "ada@example.com", "reg-2")
    assert second.status_code == 409


async def test_the_same_key_for_another_email_is_a_422(auth_service: AuthService) -> None:
    assert (await register(auth_service, "ada@example.com", "reg-3")).status_code == 201
    reused = await register(auth_service, "bob@example.com", "reg-3")
    assert reused.status_code == 422
    assert reused.json()["error_type"] == "validation_error"
