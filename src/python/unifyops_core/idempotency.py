"""Idempotency keys for writes: the same ``Idempotency-Key`` and the same request within
``window`` gets the stored first answer instead of being applied again.

Where they live: in the service's own PostgreSQL, in a table the service declares on its metadata
(``idempotency_table``) and creates in a migration, and written *in the same transaction as the
write itself*. So the key and the write commit together or not at all: a crash between them
cannot leave a write without its key (applied twice on retry) or a key without its write (a
retry answered with a write that never happened). A gateway-side store could promise neither, and
gateways keep no state.

How a repeat is recognised: ``reserve`` inserts the key; a second request with the same key blocks
on that row until the first one's transaction ends. If the first committed, the second reads its
stored answer; if it rolled back (it failed), the second goes ahead as if it were the first. The
same key with a different request body is a 422: the client reused a key by mistake.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops_core.client import IDEMPOTENCY_KEY_HEADER
from unifyops_core.exceptions import ValidationError

TABLE_NAME = "idempotency_keys"
DEFAULT_WINDOW = timedelta(hours=24)
_VALID_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,255}$")


def idempotency_table(metadata: MetaData) -> Table:
    """The table on a service's metadata (so its migration check covers it)."""
    return Table(
        TABLE_NAME,
        metadata,
        # What the key is for (e.g. "profile-update:<subject>"): a key is the client's, per scope.
        Column("scope", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        # Filled in the same transaction as the reservation; never seen empty by another request.
        Column("response", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    )


def checked_key(key: str) -> str:
    if not _VALID_KEY.match(key):
        raise ValidationError(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1-255 letters, digits or ._:-",
            details={"header": IDEMPOTENCY_KEY_HEADER},
        )
    return key


def fingerprint(request: Any) -> str:
    """A digest of the request as JSON, independent of key order."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def reserve(
    session: AsyncSession,
    table: Table,
    *,
    scope: str,
    key: str,
    request: Any,
    window: timedelta = DEFAULT_WINDOW,
) -> Any | None:
    """None: this request is the first with ``key``, go ahead and ``record`` its answer before
    committing. Otherwise the stored answer of the first one (do nothing else)."""
    key = checked_key(key)
    digest = fingerprint(request)
    where = (table.c.scope == scope, table.c.key == key)
    # A key older than the window is free again.
    await session.execute(delete(table).where(*where, table.c.created_at < func.now() - window))
    inserted = await session.execute(
        insert(table)
        .values(scope=scope, key=key, fingerprint=digest)
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )
    if inserted.first() is not None:
        return None
    stored = (
        await session.execute(select(table.c.fingerprint, table.c.response).where(*where))
    ).one()
    if stored.fingerprint != digest:
        raise ValidationError(
            f"This {IDEMPOTENCY_KEY_HEADER} was already used for a different request",
            details={"header": IDEMPOTENCY_KEY_HEADER},
        )
    return stored.response


async def record(
    session: AsyncSession, table: Table, *, scope: str, key: str, response: Any
) -> None:
    """Store the answer for ``key``; commit it with the write."""
    await session.execute(
        update(table).where(table.c.scope == scope, table.c.key == key).values(response=response)
    )


__all__ = [
    "DEFAULT_WINDOW",
    "TABLE_NAME",
    "checked_key",
    "fingerprint",
    "idempotency_table",
    "record",
    "reserve",
]
