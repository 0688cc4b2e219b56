"""Shapes of environment-service (shared with environment-api)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EnvironmentName = Literal["dev", "staging", "prod"]
# The registry's stacks and tiers, typed out for mypy (schemas_test.py keeps them equal).
StackName = Literal["auth", "user", "environment"]
# The database is a tier too: `uo bump` records a new database image per stack that runs it.
TierName = Literal["app", "api", "service", "database"]


class TierImagePublic(BaseModel):
    tag: str | None
    digest: str | None


class StackPublic(BaseModel):
    stack: str
    core_version: str | None
    tiers: dict[str, TierImagePublic]


class EnvironmentPublic(BaseModel):
    name: str
    namespace: str
    domain: str | None
    stacks: dict[str, StackPublic]


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environment: EnvironmentName
    stack: StackName
    tier: TierName
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    digest: str | None = Field(default=None, pattern=r"^sha256:[a-f0-9]{64}$")
    core_version: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
    git_commit: str = Field(pattern=r"^[0-9a-f]{7,40}$")


class DeploymentRecord(DeploymentCreate):
    """What the service stores: the gateway adds who did it."""

    actor: str = Field(min_length=1, max_length=128)


class DeploymentPublic(DeploymentRecord):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: uuid.UUID
    deployed_at: datetime


class PromotionChange(BaseModel):
    stack: str
    tier: str
    source: str | None
    target: str | None
    changes: bool


class PromotionDiff(BaseModel):
    source: str
    target: str
    changes: list[PromotionChange]
