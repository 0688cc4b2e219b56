"""GET /v1/profile through the real user-api and user-service, on a real PostgreSQL.

The gateway reads first and creates the profile only when the service has none, so a returning
user costs one read and never a write.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from unifyops.identity.user.user_api.config import Settings as ApiSettings
from unifyops.identity.user.user_api.main import create_app as create_api
from unifyops.identity.user.user_service.config import Settings as ServiceSettings
from unifyops.identity.user.user_service.main import create_app as create_service
from unifyops.identity.user.user_service.main import migrate
from unifyops_core.keys import StaticKeys
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.testing import SigningKey
from unifyops_core.testing_db import fresh_database
from unifyops_core.token_endpoint_testutil import TokenEndpoint


class CountingTransport(httpx.AsyncBaseTransport):
    """The gateway's way to its service: the real service app, with each call counted."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls[request.method] += 1
        return await self.inner.handle_async_request(request)


@dataclass
class Chain:
    api: httpx.AsyncClient
    to_service: CountingTransport
    user_key: SigningKey

    async def my_profile(self, subject: str) -> httpx.Response:
        token = self.user_key.mint(sub=subject, email=f"{subject}@example.com")
        return await self.api.get("/v1/profile", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def chain() -> AsyncIterator[Chain]:
    endpoint, user_key = TokenEndpoint(), SigningKey()
    async with fresh_database() as database:
        service_settings = ServiceSettings(database=database)
        await asyncio.to_thread(migrate, service_settings)
        service = create_service(service_settings, keys=StaticKeys([endpoint.key.public_jwk()]))
        to_service = CountingTransport(httpx.ASGITransport(app=service))
        api = create_api(
            ApiSettings(service_url="http://user-service"),
            keys=StaticKeys([user_key.public_jwk()]),
            token_provider=ServiceTokenProvider(
                token_url="http://auth/oauth/token",
                client_id="user-api",
                client_secret="s3cret-for-tests",
                http=endpoint.http,
            ),
            service_transport=to_service,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url="http://user-api"
        ) as http:
            yield Chain(http, to_service, user_key)
        await service.state.db.dispose()


async def test_a_first_visit_creates_the_profile_and_later_visits_only_read(chain: Chain) -> None:
    first = await chain.my_profile("u-1")
    assert first.status_code == 200, first.text
    assert first.json()["email"] == "u-1@example.com"
    assert chain.to_service.calls == {"GET": 1, "PUT": 1}  # not found, then created

    chain.to_service.calls.clear()
    again = await chain.my_profile("u-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"] == '"v1"'
    assert chain.to_service.calls == {"GET": 1}


async def test_concurrent_first_visits_agree_on_one_profile(chain: Chain) -> None:
    answers = await asyncio.gather(*(chain.my_profile("u-2") for _ in range(8)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.text for answer in answers}) == 1
