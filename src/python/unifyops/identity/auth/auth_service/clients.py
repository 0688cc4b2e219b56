"""Registered service-to-service callers and the client-credentials grant."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    session: AsyncSession, issuer: Issuer, client_id: str, secret: str, audience: str
) -> ServiceToken:
    client = await session.get(ClientCredential, client_id)
    if not verify_secret(client.secret_hash if client else None, secret) or client is None:
        raise AuthenticationError("Invalid client credentials")
    if audience not in client.audiences:
        raise AuthorizationError("This client may not call that audience")
    token = await issuer.service_token(client_id, audience)
    return ServiceToken(access_token=token, expires_in=issuer.service_ttl)
