"""Tables of auth-service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from unifyops_core.idempotency import idempotency_table


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # The roles granted (unifyops...auth_service.schemas.ROLE_SCOPES); ``scopes`` is derived from
    # them (roles.py keeps it in step), so issuing a token reads one column.
    roles: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), default=lambda: ["member"], server_default="{member}"
    )
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RefreshToken(Base):
    """Only a hash of each refresh token is stored; a family is one login's chain of rotations."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when a refresh replaced this token: presented again within the grace window it still
    # works (two apps refreshing at once), later it proves a copy exists and ends the family.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the token may never be used again (sign-out, reuse detected).
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SigningKey(Base):
    """A token signing key; the private half is encrypted with the key-encryption key."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Set when a newer key takes over: published until then, so tokens it signed stay valid.
    retire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClientCredential(Base):
    """A registered service-to-service caller; only a hash of its secret is stored."""

    __tablename__ = "client_credentials"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    audiences: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginDevice(Base):
    """A device that signed in to an account before (OWASP "device cookies").

    Its token (stored hashed) exempts sign-ins from the per-account and per-address limits that
    strangers trip, so nobody can lock an owner's known devices out.
    """

    __tablename__ = "login_devices"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Throttle(Base):
    """Failures (or requests) counted against one key, e.g. ``login:account:<email>``."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # No attempt for this key is answered before then (429 with Retry-After).
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The start of the counting: a count older than the key's memory is forgotten.
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Answers to registrations sent with an Idempotency-Key (unifyops_core.idempotency).
idempotency_keys = idempotency_table(Base.metadata)
