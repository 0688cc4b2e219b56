"""Registered service-to-service callers and the client-credentials grant."""

from __future__ import annotations

import asyncio

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service import limits, throttle
from unifyops.identity.auth.auth_service.config import Settings
from unifyops.identity.auth.auth_service.issuance import Issuer
from unifyops.identity.auth.auth_service.models import ClientCredential
from unifyops.identity.auth.auth_service.passwords import hash_secret, verify_secret
from unifyops.identity.auth.auth_service.schemas import ServiceToken
from unifyops_core.exceptions import AuthenticationError, AuthorizationError


async def register_client(
    session: AsyncSession, client_id: str, secret: str, audiences: list[str]
) -> None:
    """Create or replace a caller; only the hash of its secret is kept."""
    statement = insert(ClientCredential).values(
        client_id=client_id, secret_hash=hash_secret(secret), audiences=sorted(set(audiences))
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ClientCredential.client_id],
            set_={
                "secret_hash": statement.excluded.secret_hash,
                "audiences": statement.excluded.audiences,
            },
        )
    )
    await session.commit()


async def grant_service_token(
    session: AsyncSession,
    settings: Settings,
    issuer: Issuer,
    client_id: str,
    secret: str,
    audience: str,
    *,
    address: str,
) -> ServiceToken:
    caller_key = limits.token_caller_key(client_id, address)
    known_caller = await throttle.seen_since(
        session, caller_key, settings.login_failure_memory_seconds
    )
    charges = limits.token_charges(settings, client_id, address, known_caller)
    await throttle.charge(session, charges, limits.TOO_MANY_TOKEN_FAILURES)
    plausible = limits.plausible_client_id(client_id)
    client = await session.get(ClientCredential, client_id) if plausible else None
    ok = await asyncio.to_thread(verify_secret, client.secret_hash if client else None, secret)
    if not ok or client is None:
        raise AuthenticationError("Invalid client credentials")
    await throttle.refund(session, [limits.token_address_key(address)])
    await throttle.forgive(session, [limits.token_client_key(client_id)])
    await throttle.touch(session, caller_key)
    if audience not in client.audiences:
        raise AuthorizationError("This client may not call that audience")
    token = await issuer.service_token(client_id, audience)
    return ServiceToken(access_token=token, expires_in=issuer.service_ttl)
