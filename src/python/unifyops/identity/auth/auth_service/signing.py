"""Signing keys: created on first use, rotated on request, published as a JWKS.

After a rotation the previous key stays published (and valid) until every token it signed has
expired; then it drops out of the JWKS.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from unifyops.identity.auth.auth_service.models import SigningKey

ALGORITHM = "RS256"
# Serialises key creation across replicas (any constant unique to this purpose).
_KEY_CREATION_LOCK = 0x5543_4B45


def _new_key(fernet: Fernet) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex[:16]
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key_encrypted=fernet.encrypt(pem),
        public_jwk={**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"},
    )


class KeyStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        encryption_key: bytes,
        retire_after: timedelta,
    ) -> None:
        self._sessions = sessions
        self._fernet = Fernet(encryption_key)
        self._retire_after = retire_after

    async def active(self) -> tuple[str, Any]:
        """The current signing key: (kid, private key). Creates the first one when there is none."""
        async with self._sessions() as session:
            key = await self._current(session)
        if key is None:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _KEY_CREATION_LOCK}
                )
                key = await self._current(session)
                if key is None:
                    key = _new_key(self._fernet)
                    session.add(key)
        pem = self._fernet.decrypt(key.private_key_encrypted)
        return key.kid, serialization.load_pem_private_key(pem, password=None)

    async def rotate(self) -> str:
        """Make a new key current; the old one is retired after the longest token lifetime."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _KEY_CREATION_LOCK}
            )
            await session.execute(
                update(SigningKey)
                .where(SigningKey.retire_at.is_(None))
                .values(retire_at=datetime.now(UTC) + self._retire_after)
            )
            key = _new_key(self._fernet)
            session.add(key)
            return key.kid

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SigningKey)
                .where(
                    or_(SigningKey.retire_at.is_(None), SigningKey.retire_at > datetime.now(UTC))
                )
                .order_by(SigningKey.created_at.desc())
            )
            return {"keys": [row.public_jwk for row in rows]}

    async def key_for(self, kid: str) -> PyJWK | None:
        """KeySource for tokens this service issued (it cannot reach its gateway's JWKS URL)."""
        for jwk in (await self.jwks())["keys"]:
            if jwk["kid"] == kid:
                return PyJWK.from_dict(jwk)
        return None

    @staticmethod
    async def _current(session: AsyncSession) -> SigningKey | None:
        result = await session.scalars(
            select(SigningKey)
            .where(SigningKey.retire_at.is_(None))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        )
        return result.first()
