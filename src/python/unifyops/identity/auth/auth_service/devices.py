"""Device tokens: proof that a device signed in to an account before (OWASP "device cookies").

A token is 256 random bits handed to the device once; only its SHA-256 is stored, with the user
it belongs to. Each successful sign-in replaces it, so a copy taken earlier stops working.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service.models import LoginDevice, User


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def known_device(
    session: AsyncSession, email: str, token: str | None, ttl_seconds: int
) -> LoginDevice | None:
    """The device ``token`` names, if it signed in to the account ``email`` and is still valid."""
    if not token:
        return None
    since = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
    device: LoginDevice | None = await session.scalar(
        select(LoginDevice)
        .join(User, User.id == LoginDevice.user_id)
        .where(
            LoginDevice.token_hash == _hash(token),
            User.email == email,
            LoginDevice.last_used_at > since,
        )
    )
    return device


async def remember_device(session: AsyncSession, user: User, device: LoginDevice | None) -> str:
    """A fresh token for the device (a new one, or the known one's replacement); commits."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    if device is None:
        session.add(LoginDevice(user_id=user.id, token_hash=_hash(token), last_used_at=now))
    else:
        device.token_hash = _hash(token)
        device.last_used_at = now
    await session.commit()
    return token


__all__ = ["known_device", "remember_device"]
