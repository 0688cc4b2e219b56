"""Shapes of environment-service (shared with environment-api)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


LiveStatus = Literal["in_sync", "drifted", "degraded", "running"]


class LiveTier(BaseModel):
    """One tier as its replicas report it to Prometheus, beside what infra/ wants.

    ``status``: ``in_sync`` (what runs is what infra/ wants, every replica ready), ``drifted`` (a
    replica runs another image), ``degraded`` (fewer ready than running, or none running of a
    tier infra/ wants), ``running`` (every replica ready; infra/ says nothing of the environment).
    """

    status: LiveStatus
    replicas: int
    ready: int
    images: list[str]
    desired: str | None
    core_versions: list[str]
    requests_per_second: float
    error_ratio: float | None  # share of 5xx; None without requests
    p99_seconds: float | None


class LiveStack(BaseModel):
    tiers: dict[str, LiveTier]


class LiveEnvironment(BaseModel):
    name: str
    namespace: str
    known: bool  # infra/ has a desired state for it
    stacks: dict[str, LiveStack]


class LiveState(BaseModel):
    prometheus: Literal["ok", "unavailable", "not_configured"]
    detail: str | None = None
    environments: list[LiveEnvironment] = Field(default_factory=list)


# A request, error or trace id as the tiers write them (request ids are bounded by core).
TRACE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
TraceIdentifier = Annotated[str, StringConstraints(pattern=TRACE_ID_PATTERN)]


class TraceFailing(BaseModel):
    tier: str
    container: str
    status: int | None = None


class TraceView(BaseModel):
    """One request across tiers, as `uo trace --json` prints it: ``spans`` is the tree of hops
    (tier, status, duration, start/end, the failing flag, the hop's notable log records,
    children); ``otel_spans`` the OpenTelemetry spans of its trace ids, where the tiers trace."""

    id: str
    request_ids: list[str]
    failing: TraceFailing | None = None
    spans: list[dict[str, Any]] = Field(default_factory=list)
    orphans: list[Any] = Field(default_factory=list)
    trace_ids: list[str] = Field(default_factory=list)
    otel_spans: list[dict[str, Any]] = Field(default_factory=list)


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
