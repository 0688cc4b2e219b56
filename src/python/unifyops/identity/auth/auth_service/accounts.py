"""Accounts and sessions: register, log in, refresh (rotating, with a reuse grace), log out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service import limits, throttle
from unifyops.identity.auth.auth_service.config import Settings
from unifyops.identity.auth.auth_service.devices import known_device, remember_device
from unifyops.identity.auth.auth_service.issuance import (
    Issuer,
    hash_refresh_token,
    new_refresh_token,
)
from unifyops.identity.auth.auth_service.models import RefreshToken, User
from unifyops.identity.auth.auth_service.passwords import hash_secret, verify_secret
from unifyops.identity.auth.auth_service.schemas import DEFAULT_SCOPES, TokenPair
from unifyops_core.exceptions import AuthenticationError, ConflictError

# One message for unknown email and wrong password: no user enumeration.
BAD_CREDENTIALS = "Invalid email or password"
BAD_REFRESH = "Invalid or expired refresh token"


async def charge_registration(session: AsyncSession, settings: Settings, address: str) -> None:
    """Count a registration attempt against the client address (commits; 429 when over)."""
    # Every attempt counts, a duplicate too: "already exists" answers are what enumeration wants.
    await throttle.charge(
        session, limits.registration_charges(settings, address), limits.TOO_MANY_REGISTRATIONS
    )


async def register(
    session: AsyncSession,
    settings: Settings,
    email: str,
    password: str,
    address: str,
    *,
    before_commit: Callable[[User], Awaitable[None]] | None = None,
    charged: bool = False,
) -> User:
    """A new account; ``before_commit`` writes in the same transaction (an idempotency key).

    ``charged``: the caller already counted this attempt (``charge_registration``), because the
    count commits and must come before a transaction that holds an idempotency reservation.
    """
    if not charged:
        await charge_registration(session, settings, address)
    password_hash = await asyncio.to_thread(hash_secret, password)
    user = User(
        id=uuid.uuid4(), email=email, password_hash=password_hash, scopes=list(DEFAULT_SCOPES)
    )
    session.add(user)
    try:
        if before_commit is not None:
            await before_commit(user)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError("An account with this email already exists") from exc
    return user


async def login(
    session: AsyncSession,
    settings: Settings,
    issuer: Issuer,
    email: str,
    password: str,
    *,
    device_token: str | None,
    address: str,
) -> TokenPair:
    device = await known_device(session, email, device_token, settings.device_token_ttl_seconds)
    charges = limits.login_charges(settings, email, address, device.id if device else None)
    # Charged before the password is checked: a blocked attempt costs no argon2 run.
    await throttle.charge(session, charges, limits.TOO_MANY_LOGINS)
    user = await session.scalar(select(User).where(User.email == email))
    # Unknown email and wrong password take the same path (a dummy hash is verified).
    ok = await asyncio.to_thread(verify_secret, user.password_hash if user else None, password)
    if not ok or user is None:
        raise AuthenticationError(BAD_CREDENTIALS)
    # The account's (or device's) failures are forgotten; the address only gets this attempt
    # back, or signing in to an account of one's own would reset a credential-stuffing count.
    address_key = limits.address_key(address)
    await throttle.forgive(session, [key for key in charges if key != address_key])
    await throttle.refund(session, [key for key in charges if key == address_key])
    pair = await _issue_pair(session, settings, issuer, user, family_id=uuid.uuid4())
    pair.device_token = await remember_device(session, user, device)
    return pair


async def _issue_pair(
    session: AsyncSession, settings: Settings, issuer: Issuer, user: User, family_id: uuid.UUID
) -> TokenPair:
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh),
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.commit()
    access = await issuer.access_token(user.id, user.email, list(user.scopes))
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=issuer.access_ttl)


async def refresh(
    session: AsyncSession, settings: Settings, issuer: Issuer, token: str
) -> TokenPair:
    # The row lock makes concurrent refreshes of one token take turns: the second sees the
    # first one's rotation and gets the grace, not a half-rotated row.
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_refresh_token(token))
        .with_for_update()
    )
    if row is None:
        raise AuthenticationError(BAD_REFRESH)
    now = datetime.now(UTC)
    grace = timedelta(seconds=settings.refresh_reuse_grace_seconds)
    if row.revoked_at is not None or (row.rotated_at is not None and row.rotated_at + grace < now):
        # A rotated token used again after the grace: someone holds a copy. End the family.
        await _revoke_family(session, row.family_id)
        await session.commit()
        raise AuthenticationError(BAD_REFRESH)
    if row.expires_at <= now:
        raise AuthenticationError(BAD_REFRESH)
    # Within the grace the family simply gains another live token; the first rotation's time
    # stays, so the grace cannot be stretched by replaying again.
    row.rotated_at = row.rotated_at or now
    user = await session.get(User, row.user_id)
    if user is None:
        raise AuthenticationError(BAD_REFRESH)
    return await _issue_pair(session, settings, issuer, user, family_id=row.family_id)


async def logout(session: AsyncSession, token: str) -> None:
    """Revoke the session the refresh token belongs to; unknown tokens are a silent no-op."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    if row is not None:
        await _revoke_family(session, row.family_id)
        await session.commit()


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
