"""Counters in PostgreSQL that slow abuse down: exponential backoff and fixed windows.

Every replica shares them, and an attempt is charged *before* the expensive or sensitive work
(argon2, creating an account) under a row lock: a burst of parallel requests is counted one by
one, and a key that is blocked is answered 429 with ``Retry-After`` without any of that work.
Charging first means a success must give the charge back (``refund``) or clear it (``forgive``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service.models import Throttle
from unifyops_core.exceptions import RateLimitedError

# Rows untouched this long are deleted now and then, so strangers' keys do not pile up.
_PRUNE_AFTER = timedelta(days=2)
_PRUNE_PROBABILITY = 0.01


class Policy(Protocol):
    def expired(self, row: Throttle, now: datetime) -> bool: ...

    def blocked_until(self, row: Throttle, now: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures each further attempt waits ``base``·2^k seconds (k = failures
    beyond ``free``), at most ``cap``; the count is forgotten ``memory`` seconds after the last
    attempt."""

    free: int
    base: int
    cap: int
    memory: int

    def expired(self, row: Throttle, now: datetime) -> bool:
        return row.updated_at + timedelta(seconds=self.memory) <= now

    def blocked_until(self, row: Throttle, now: datetime) -> datetime | None:
        if row.count < self.free:
            return None
        exponent = min(row.count - self.free, 32)  # 2**32 s is past any cap: no huge ints
        return now + timedelta(seconds=min(self.base * 2**exponent, self.cap))


@dataclass(frozen=True)
class Window:
    """At most ``limit`` attempts per fixed window of ``seconds``."""

    limit: int
    seconds: int

    def expired(self, row: Throttle, now: datetime) -> bool:
        return row.since + timedelta(seconds=self.seconds) <= now

    def blocked_until(self, row: Throttle, now: datetime) -> datetime | None:
        return row.since + timedelta(seconds=self.seconds) if row.count >= self.limit else None


async def charge(session: AsyncSession, charges: Mapping[str, Policy], message: str) -> None:
    """Count one attempt against every key, or raise ``RateLimitedError`` if any key is blocked
    (then nothing is counted: waiting out a block never makes it longer)."""
    if not charges:
        return
    now = datetime.now(UTC)
    keys = sorted(charges)  # one lock order for every caller: no deadlocks between attempts
    await session.execute(
        insert(Throttle)
        .values([{"key": key, "count": 0, "since": now, "updated_at": now} for key in keys])
        .on_conflict_do_nothing(index_elements=[Throttle.key])
    )
    rows = await session.scalars(
        select(Throttle).where(Throttle.key.in_(keys)).order_by(Throttle.key).with_for_update()
    )
    locked = {row.key: row for row in rows}
    wait = 0.0
    for key in keys:
        row = locked[key]
        if charges[key].expired(row, now):
            row.count, row.since, row.blocked_until = 0, now, None
        if row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, (row.blocked_until - now).total_seconds())
    if wait > 0:
        await session.rollback()
        raise RateLimitedError(message, retry_after=max(1, math.ceil(wait)))
    for key in keys:
        row = locked[key]
        row.count += 1
        row.updated_at = now
        row.blocked_until = charges[key].blocked_until(row, now)
    await session.commit()
    if random.random() < _PRUNE_PROBABILITY:  # noqa: S311 - not security relevant
        await prune(session, now)


async def refund(session: AsyncSession, keys: Iterable[str]) -> None:
    """Give back one charged attempt (it succeeded); a block already set stays."""
    await session.execute(
        update(Throttle)
        .where(Throttle.key.in_(list(keys)))
        .values(count=func.greatest(Throttle.count - 1, 0))
    )
    await session.commit()


async def forgive(session: AsyncSession, keys: Iterable[str]) -> None:
    """Forget every failure counted against the keys (the attempt proved who it was)."""
    await session.execute(delete(Throttle).where(Throttle.key.in_(list(keys))))
    await session.commit()


async def touch(session: AsyncSession, key: str) -> None:
    """Remember that something happened for ``key`` now (``seen_since`` reads it)."""
    now = datetime.now(UTC)
    statement = insert(Throttle).values(key=key, count=0, since=now, updated_at=now)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[Throttle.key], set_={"updated_at": now})
    )
    await session.commit()


async def seen_since(session: AsyncSession, key: str, seconds: int) -> bool:
    updated = await session.scalar(select(Throttle.updated_at).where(Throttle.key == key))
    return updated is not None and updated > datetime.now(UTC) - timedelta(seconds=seconds)


async def prune(session: AsyncSession, now: datetime) -> None:
    """Delete rows nobody touched for a while (in its own transaction, after any charge)."""
    await session.execute(delete(Throttle).where(Throttle.updated_at < now - _PRUNE_AFTER))
    await session.commit()


__all__ = [
    "Backoff",
    "Policy",
    "Window",
    "charge",
    "forgive",
    "prune",
    "refund",
    "seen_since",
    "touch",
]
