"""Tables of environment-service."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# What makes two records the same deployment: recording it again (a retried `uo bump --record`)
# answers the stored event instead of adding one. NULLS NOT DISTINCT: an image without a digest
# is still one deployment (PostgreSQL 15+).
RECORD_KEY = ("environment", "stack", "tier", "tag", "digest", "git_commit")
RECORD_CONSTRAINT = "uq_deployment_events_record"


class DeploymentEvent(Base):
    """One image of one tier deployed to one environment (recorded by the release tooling)."""

    __tablename__ = "deployment_events"
    __table_args__ = (
        Index("ix_deployment_events_env_stack_at", "environment", "stack", "deployed_at"),
        UniqueConstraint(*RECORD_KEY, name=RECORD_CONSTRAINT, postgresql_nulls_not_distinct=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    environment: Mapped[str] = mapped_column(String(32))
    stack: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(32))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(80))
    core_version: Mapped[str | None] = mapped_column(String(32))
    git_commit: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    deployed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
