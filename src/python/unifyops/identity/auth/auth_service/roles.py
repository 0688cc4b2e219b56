"""Granting and revoking roles; an account's ``scopes`` column always follows its roles.

A role change reaches the user's access token at their next login or refresh (access tokens are
short-lived and are not revoked on a change). At least one admin always remains: revoking the
last one is refused, and concurrent revocations are serialised by locking every admin row.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service.models import User
from unifyops.identity.auth.auth_service.schemas import (
    ADMIN_ROLE,
    BASE_ROLE,
    ROLE_SCOPES,
    AccountRoles,
    scopes_of,
)
from unifyops_core.exceptions import ConflictError, RecordNotFoundError, ValidationError

NO_SUCH_ACCOUNT = "No account with this email"


def _known(role: str) -> str:
    if role not in ROLE_SCOPES:
        raise ValidationError(f"Unknown role {role!r}", details={"roles": sorted(ROLE_SCOPES)})
    return role


def _ordered(roles: set[str]) -> list[str]:
    """Roles in the table's order (member first, admin last): stable output for people."""
    return [role for role in ROLE_SCOPES if role in roles]


def describe(user: User) -> AccountRoles:
    return AccountRoles(
        id=str(user.id), email=user.email, roles=list(user.roles), scopes=list(user.scopes)
    )


async def _account(session: AsyncSession, email: str) -> User:
    user = await session.scalar(
        select(User).where(User.email == email.strip().lower()).with_for_update()
    )
    if user is None:
        raise RecordNotFoundError(NO_SUCH_ACCOUNT)
    return user


async def account_roles(session: AsyncSession, email: str) -> AccountRoles:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise RecordNotFoundError(NO_SUCH_ACCOUNT)
    return describe(user)


async def grant(session: AsyncSession, email: str, role: str) -> AccountRoles:
    """Give an account a role (granting one it has is a no-op)."""
    _known(role)
    user = await _account(session, email)
    _assign(user, {*user.roles, BASE_ROLE, role})
    await session.commit()
    return describe(user)


async def revoke(session: AsyncSession, email: str, role: str) -> AccountRoles:
    """Take a role away (one it lacks is a no-op); never the base role, never the last admin."""
    _known(role)
    if role == BASE_ROLE:
        raise ConflictError(f"Every account has the {BASE_ROLE} role; it cannot be revoked")
    if role == ADMIN_ROLE:
        # Lock every admin row first (same order for everyone), so two admins revoking each
        # other cannot both see "another admin remains".
        admins = list(
            await session.scalars(
                select(User.id)
                .where(User.roles.contains([ADMIN_ROLE]))
                .order_by(User.id)
                .with_for_update()
            )
        )
    user = await _account(session, email)
    if role == ADMIN_ROLE and ADMIN_ROLE in user.roles and len(admins) <= 1:
        await session.rollback()
        raise ConflictError("This is the last admin; grant admin to another account first")
    _assign(user, set(user.roles) - {role})
    await session.commit()
    return describe(user)


def _assign(user: User, roles: set[str]) -> None:
    user.roles = _ordered(roles | {BASE_ROLE})
    user.scopes = scopes_of(user.roles)


async def sync_scopes(session: AsyncSession) -> int:
    """Re-derive every account's scopes from its roles (after the role table changed in code).
    Returns how many accounts changed."""
    changed = 0
    role_sets = (await session.scalars(select(User.roles).distinct())).all()
    for roles in role_sets:
        result = cast(
            "CursorResult[Any]",
            await session.execute(
                update(User)
                .where(User.roles == roles, User.scopes != scopes_of(roles))
                .values(scopes=scopes_of(roles))
            ),
        )
        changed += result.rowcount or 0
    await session.commit()
    return changed


__all__ = ["account_roles", "describe", "grant", "revoke", "sync_scopes"]
