from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from unifyops.identity.auth.auth_service.clients import register_client
from unifyops.identity.auth.auth_service.config import Settings
from unifyops.identity.auth.auth_service.main import create_app, migrate
from unifyops_core.testing_db import fresh_database

GATEWAY_SECRET = "auth-api-secret-for-tests"


@dataclass
class AuthService:
    http: httpx.AsyncClient
    settings: Settings
    app: FastAPI

    async def sql(self, statement: str) -> None:
        """Run SQL on the service's database (to let time pass without waiting for it)."""
        async with self.app.state.db.sessions() as session:
            await session.execute(text(statement))
            await session.commit()

    async def wait_out_blocks(self) -> None:
        await self.sql("UPDATE throttles SET blocked_until = now() - interval '1 second'")

    async def service_token(
        self,
        client_id: str = "auth-api",
        secret: str = GATEWAY_SECRET,
        audience: str = "auth-service",
    ) -> httpx.Response:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return await self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "audience": audience},
            headers={"Authorization": f"Basic {basic}"},
        )

    async def as_gateway(self) -> dict[str, str]:
        response = await self.service_token()
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def auth_service() -> AsyncIterator[AuthService]:
    async with fresh_database() as database:
        # Long backoff steps, so a block never runs out while a test is still looking at it.
        settings = Settings(
            database=database,
            login_free_failures_per_account=3,
            login_free_failures_per_address=6,
            login_backoff_base_seconds=60,
            registrations_per_address=5,
            token_free_failures=3,
        )
        await asyncio.to_thread(migrate, settings)
        app = create_app(settings)
        async with app.state.db.sessions() as session:
            await register_client(session, "auth-api", GATEWAY_SECRET, ["auth-service"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth-service") as http:
            yield AuthService(http, settings, app)
        await app.state.db.dispose()
