"""Accounts and sessions: register, log in, refresh (rotating), log out; login abuse limits."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service.config import Settings
from unifyops.identity.auth.auth_service.issuance import (
    Issuer,
    hash_refresh_token,
    new_refresh_token,
)
from unifyops.identity.auth.auth_service.models import LoginAttempt, RefreshToken, User
from unifyops.identity.auth.auth_service.passwords import hash_secret, verify_secret
from unifyops.identity.auth.auth_service.schemas import DEFAULT_SCOPES, TokenPair
from unifyops_core.exceptions import AuthenticationError, ConflictError, RateLimitedError

# One message for unknown email and wrong password: no user enumeration.
BAD_CREDENTIALS = "Invalid email or password"
BAD_REFRESH = "Invalid or expired refresh token"


async def register(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    before_commit: Callable[[User], Awaitable[None]] | None = None,
) -> User:
    """A new account; ``before_commit`` writes in the same transaction (an idempotency key)."""
    user = User(
        id=uuid.uuid4(),
        email=email,
        password_hash=hash_secret(password),
        scopes=list(DEFAULT_SCOPES),
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


async def _check_login_limits(
    session: AsyncSession, settings: Settings, email: str, ip: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=settings.login_window_seconds)
    failures = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
    )
    by_email = await session.scalar(failures.where(LoginAttempt.email == email)) or 0
    by_ip = await session.scalar(failures.where(LoginAttempt.ip == ip)) or 0
    if by_email >= settings.login_failures_per_email or by_ip >= settings.login_failures_per_ip:
        raise RateLimitedError(
            "Too many failed logins; try again later", retry_after=settings.login_window_seconds
        )


async def login(
    session: AsyncSession, settings: Settings, issuer: Issuer, email: str, password: str, ip: str
) -> TokenPair:
    await _check_login_limits(session, settings, email, ip)
    user = await session.scalar(select(User).where(User.email == email))
    ok = verify_secret(user.password_hash if user else None, password)
    session.add(LoginAttempt(email=email, ip=ip, succeeded=ok))
    await session.commit()
    if not ok or user is None:
        raise AuthenticationError(BAD_CREDENTIALS)
    return await _issue_pair(session, settings, issuer, user, family_id=uuid.uuid4())


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
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_refresh_token(token))
        .with_for_update()
    )
    if row is None:
        raise AuthenticationError(BAD_REFRESH)
    if row.revoked_at is not None:
        # A rotated token used again: someone holds a copy. End the whole session family.
        await _revoke_family(session, row.family_id)
        await session.commit()
        raise AuthenticationError(BAD_REFRESH)
    if row.expires_at <= datetime.now(UTC):
        raise AuthenticationError(BAD_REFRESH)
    row.revoked_at = datetime.now(UTC)
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
