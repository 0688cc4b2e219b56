from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from unifyops.platform.environment.environment_service.config import Settings
from unifyops.platform.environment.environment_service.main import create_app, migrate
from unifyops_core.keys import StaticKeys
from unifyops_core.testing import SigningKey
from unifyops_core.testing_db import fresh_database


@dataclass
class EnvironmentService:
    http: httpx.AsyncClient
    infra: Path
    headers: dict[str, str]


@pytest.fixture
async def environment_service(tmp_path: Path) -> AsyncIterator[EnvironmentService]:
    async with serving(tmp_path) as service:
        yield service


@asynccontextmanager
async def serving(tmp_path: Path, **settings: Any) -> AsyncIterator[EnvironmentService]:
    """environment-service in process on a fresh database, reading a copy of the repository's
    own infra/ (the desired state); ``settings`` overrides (e.g. ``prometheus_url``)."""
    infra = tmp_path / "environments"
    shutil.copytree(Path.cwd() / "infra/environments", infra)
    auth_key = SigningKey()
    token = auth_key.mint(sub="environment-api", aud="environment-service", token_use="service")
    async with fresh_database() as database:
        configured = Settings(database=database, infra_path=infra, **settings)
        await asyncio.to_thread(migrate, configured)
        app = create_app(configured, keys=StaticKeys([auth_key.public_jwk()]))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://environment-service"
        ) as http:
            yield EnvironmentService(http, infra, {"Authorization": f"Bearer {token}"})
        await app.state.db.dispose()
