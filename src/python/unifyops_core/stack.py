"""The two tiers every stack is made of, built the same way for all stacks.

- a *service* (private, :8001): owns the database; accepts only service tokens whose audience is
  itself and whose caller is its own gateway. It trusts the auth stack's signing keys fetched from
  ``jwks_url`` (cached; an unknown ``kid`` after a key rotation triggers one refresh), or, where
  no URL is set, the keys given in configuration (``trusted_jwks``).
- a *gateway* (public, :8002): validates user tokens against the auth stack's JWKS and calls its
  service with a service token obtained with its own client credentials.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from unifyops_core.app import create_service_app
from unifyops_core.client import ServiceClient
from unifyops_core.compat import check_core
from unifyops_core.db import Database, DatabaseSettings
from unifyops_core.health import HealthRegistry
from unifyops_core.keys import JwksKeys, KeySource, StaticKeys
from unifyops_core.naming import Component
from unifyops_core.security import install_auth, require_service
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.session_relay import SessionRelay
from unifyops_core.settings import ServiceSettings
from unifyops_core.tokens import TokenValidator

USER_TOKEN_AUDIENCE = "unifyops"
TOKEN_ISSUER = "unifyops-auth"


class TierSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="UO_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    issuer: str = TOKEN_ISSUER
    token_leeway_seconds: float = 30.0


class ServiceTierSettings(TierSettings):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    # Where the auth stack publishes its keys; fetched and cached, so a rotation needs no redeploy.
    jwks_url: str = ""
    # Keys as a JWKS document (JSON), for a service that cannot reach the auth stack.
    trusted_jwks: str = '{"keys": []}'

    def trusted_keys(self) -> KeySource:
        if self.jwks_url:
            return JwksKeys(self.jwks_url)
        return StaticKeys(json.loads(self.trusted_jwks).get("keys", []))


class GatewayTierSettings(TierSettings):
    service_url: str
    jwks_url: str = "http://auth-api:8002/.well-known/jwks.json"
    token_url: str = "http://auth-api:8002/oauth/token"
    client_secret: SecretStr = SecretStr("")
    # Where session calls (sign in, refresh, sign out) are relayed, so each app needs only its
    # own gateway.
    auth_url: str = "http://auth-api:8002"


def create_service_tier(
    component: Component,
    settings: ServiceTierSettings,
    *,
    version: str,
    routers: Sequence[APIRouter],
    keys: KeySource | None = None,
    public_routers: Sequence[APIRouter] = (),
    database: Database | None = None,
    on_startup: Callable[[], Awaitable[object]] | None = None,
    core_requirement: str | None = None,
) -> FastAPI:
    """A service tier: database in ``app.state.db``, routers guarded by ``require_service``.

    ``public_routers`` skip the service-token guard; only the auth service uses them, for the
    token endpoint whose callers authenticate with client credentials instead.
    """
    if core_requirement:
        check_core(core_requirement, service=component.name)
    database = database or Database(settings.database)
    health = HealthRegistry()
    health.add("database", database.ping)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        yield
        await database.dispose()

    app = create_service_app(settings, version=version, health=health, lifespan=lifespan)
    app.state.db = database
    if app.state.metrics is not None:
        app.state.metrics.watch_pool(database.engine.pool)
    install_auth(
        app,
        service_tokens=TokenValidator(
            keys or settings.trusted_keys(),
            issuer=settings.issuer,
            audience=component.name,
            leeway_seconds=settings.token_leeway_seconds,
        ),
    )
    gateway = Component(component.stack, "api").name
    guard = [Depends(require_service([gateway]))]
    for router in routers:
        app.include_router(router, dependencies=guard)
    for router in public_routers:
        app.include_router(router)
    return app


def create_gateway_tier(
    component: Component,
    settings: GatewayTierSettings,
    *,
    version: str,
    routers: Sequence[APIRouter],
    keys: KeySource | None = None,
    token_provider: ServiceTokenProvider | None = None,
    service_transport: httpx.AsyncBaseTransport | None = None,
    core_requirement: str | None = None,
    relay_sessions: bool = True,
    auth_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A gateway tier: user tokens checked, ``app.state.service`` calls the stack's service.

    With ``relay_sessions`` (every gateway but auth's own) it also relays the session calls to the
    auth stack (unifyops_core.session_relay).
    """
    if core_requirement:
        check_core(core_requirement, service=component.name)
    service = Component(component.stack, "service")
    provider = token_provider or ServiceTokenProvider(
        token_url=settings.token_url,
        client_id=component.name,
        client_secret=settings.client_secret.get_secret_value(),
    )
    client = ServiceClient(
        settings.service_url,
        service=service.name,
        token_provider=provider,
        audience=service.name,
        transport=service_transport,
    )

    relay = SessionRelay(settings.auth_url, transport=auth_transport) if relay_sessions else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()
        if relay is not None:
            await relay.aclose()

    app = create_service_app(settings, version=version, lifespan=lifespan)
    app.state.service = client
    if app.state.metrics is not None:
        client.on_attempt = app.state.metrics.observe_call
    install_auth(
        app,
        user_tokens=TokenValidator(
            keys or JwksKeys(settings.jwks_url),
            issuer=settings.issuer,
            audience=USER_TOKEN_AUDIENCE,
            leeway_seconds=settings.token_leeway_seconds,
        ),
    )
    for router in routers:
        app.include_router(router)
    if relay is not None:
        app.include_router(relay.router)
    return app


async def _service_client(request: Request) -> ServiceClient:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-off
    # per request for what is an attribute read of the one client the app shares.
    client: ServiceClient = request.app.state.service
    return client


# Each dependency closes the generator it takes its session from: ``async for`` does not when
# the route's error is thrown in at ``yield``, and the garbage collector then closed the session
# later in a task of its own (no request context; a failed close was asyncio's "Task exception
# was never retrieved").


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.db
    sessions = database.session()
    session = await anext(sessions)
    try:
        yield session
    except BaseException:
        database.close_behind(sessions)  # its ROLLBACK must not hold the answer (close_behind)
        raise
    await sessions.aclose()


async def _db_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.db
    async with aclosing(database.read_session()) as sessions:
        async for session in sessions:
            yield session


def database_of(request: Request) -> Database:
    """The tier's database, for a route that opens its own connection (``Database.reading``)."""
    database: Database = request.app.state.db
    return database


async def _db_read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    database: Database = request.app.state.db
    async with database.reading() as connection:
        yield connection


ServiceDep = Annotated[ServiceClient, Depends(_service_client)]
SessionDep = Annotated[AsyncSession, Depends(_db_session)]
# For routes that only read: no transaction around the query (Database.read_session).
ReadSessionDep = Annotated[AsyncSession, Depends(_db_read_session)]
# For a read through SQLAlchemy Core (rows, no ORM objects): Database.read_connection.
ReadConnectionDep = Annotated[AsyncConnection, Depends(_db_read_connection)]
# For the hottest reads the route takes the Request and opens
# ``async with database_of(request).reading() as connection`` itself: no dependency to solve, no
# exit stack or shielded cancel scope (Database.reading); ~10 % of a one-SELECT request.

__all__ = [
    "TOKEN_ISSUER",
    "USER_TOKEN_AUDIENCE",
    "GatewayTierSettings",
    "ReadConnectionDep",
    "ReadSessionDep",
    "ServiceDep",
    "ServiceTierSettings",
    "SessionDep",
    "TierSettings",
    "create_gateway_tier",
    "create_service_tier",
    "database_of",
]
