"""Refresh-token reuse grace: concurrent refreshes keep the session; late reuse still ends it."""

from __future__ import annotations

import asyncio

import httpx

from unifyops.identity.auth.auth_service.conftest import AuthService
from unifyops.identity.auth.auth_service.service_test import login, register


async def refresh(svc: AuthService, token: object) -> httpx.Response:
    return await svc.http.post(
        "/internal/sessions/refresh",
        json={"refresh_token": token},
        headers=await svc.as_gateway(),
    )


async def signed_in(svc: AuthService) -> str:
    await register(svc)
    status, tokens = await login(svc)
    assert status == 200
    return str(tokens["refresh_token"])


async def test_a_rotated_token_within_the_grace_gets_a_fresh_pair(
    auth_service: AuthService,
) -> None:
    first = await signed_in(auth_service)
    rotated = await refresh(auth_service, first)
    again = await refresh(auth_service, first)
    assert rotated.status_code == again.status_code == 200, again.text
    assert again.json()["refresh_token"] != rotated.json()["refresh_token"]
    # Both apps carry on with their own token.
    assert (await refresh(auth_service, rotated.json()["refresh_token"])).status_code == 200
    assert (await refresh(auth_service, again.json()["refresh_token"])).status_code == 200


async def test_reuse_after_the_grace_ends_every_branch(auth_service: AuthService) -> None:
    first = await signed_in(auth_service)
    rotated = (await refresh(auth_service, first)).json()["refresh_token"]
    in_grace = (await refresh(auth_service, first)).json()["refresh_token"]
    await auth_service.sql("UPDATE refresh_tokens SET rotated_at = rotated_at - interval '11 s'")
    assert (await refresh(auth_service, first)).status_code == 401
    assert (await refresh(auth_service, rotated)).status_code == 401
    assert (await refresh(auth_service, in_grace)).status_code == 401


async def test_the_grace_does_not_outlive_a_sign_out(auth_service: AuthService) -> None:
    first = await signed_in(auth_service)
    rotated = (await refresh(auth_service, first)).json()["refresh_token"]
    signed_out = await auth_service.http.post(
        "/internal/sessions/logout",
        json={"refresh_token": rotated},
        headers=await auth_service.as_gateway(),
    )
    assert signed_out.status_code == 204
    assert (await refresh(auth_service, first)).status_code == 401


async def test_concurrent_refreshes_of_one_token_both_succeed(auth_service: AuthService) -> None:
    first = await signed_in(auth_service)
    responses = await asyncio.gather(*(refresh(auth_service, first) for _ in range(2)))
    assert [response.status_code for response in responses] == [200, 200]
    new_tokens = {response.json()["refresh_token"] for response in responses}
    assert len(new_tokens) == 2
    for token in new_tokens:
        assert (await refresh(auth_service, token)).status_code == 200
