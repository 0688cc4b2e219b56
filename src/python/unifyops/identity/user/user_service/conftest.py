from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from unifyops.identity.user.user_service.config import Settings
from unifyops.identity.user.user_service.main import create_app, migrate
from unifyops_core.keys import StaticKeys
from unifyops_core.testing import SigningKey
from unifyops_core.testing_db import fresh_database


@dataclass
class UserService:
    http: httpx.AsyncClient
    auth_key: SigningKey

    def gateway_headers(
        self, caller: str = "user-api", audience: str = "user-service"
    ) -> dict[str, str]:
        token = self.auth_key.mint(sub=caller, aud=audience, token_use="service")
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def user_service() -> AsyncIterator[UserService]:
    auth_key = SigningKey()  # stands in for the auth stack's signing key
    async with fresh_database() as database:
        settings = Settings(database=database)
        await asyncio.to_thread(migrate, settings)
        app = create_app(settings, keys=StaticKeys([auth_key.public_jwk()]))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://user-service"
        ) as http:
            yield UserService(http, auth_key)
        await app.state.db.dispose()
