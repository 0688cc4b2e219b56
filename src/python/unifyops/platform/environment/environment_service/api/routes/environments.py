"""Environments, deployment history and promotion diffs (called by environment-api only)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from unifyops.platform.environment.environment_service.desired import (
    DesiredState,
    environment,
    promotion_diff,
    public,
)
from unifyops.platform.environment.environment_service.live import read_live
from unifyops.platform.environment.environment_service.models import (
    RECORD_CONSTRAINT,
    RECORD_KEY,
    DeploymentEvent,
)
from unifyops.platform.environment.environment_service.schemas import (
    DeploymentPublic,
    DeploymentRecord,
    EnvironmentName,
    EnvironmentPublic,
    LiveState,
    PromotionDiff,
    StackName,
    TraceIdentifier,
    TraceView,
)
from unifyops.platform.environment.environment_service.traces import read_trace
from unifyops_core import tracing
from unifyops_core.desired_state import EnvironmentState
from unifyops_core.exceptions import DependencyUnavailableError
from unifyops_core.stack import SessionDep

router = APIRouter(prefix="/internal", tags=["environments"])
# A duration back from now (30s, 10m, 1h, 2d) or an ISO time, as `uo trace --since` takes it.
SINCE_PATTERN = r"^(\d{1,4}[smhd]|\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)$"


def _desired(request: Request) -> DesiredState:
    source: DesiredState = request.app.state.desired
    return source


def _public_event(event: DeploymentEvent) -> DeploymentPublic:
    return DeploymentPublic.model_validate(event, from_attributes=True)


@router.get("/environments")
async def environments(request: Request, session: SessionDep) -> list[EnvironmentPublic]:
    return [public(state) for state in (await _desired(request).environments(session)).values()]


@router.get("/environments/{name}")
async def one_environment(
    name: EnvironmentName, request: Request, session: SessionDep
) -> EnvironmentPublic:
    return public(await environment(_desired(request), session, name))


@router.get("/live")
async def live(request: Request, session: SessionDep) -> LiveState:
    """What runs, from Prometheus, beside what infra/ wants (live.py)."""
    try:
        desired: dict[str, EnvironmentState] = await _desired(request).environments(session)
    except DependencyUnavailableError:
        desired = {}  # no infra/ checkout: what runs is still worth showing
    # A client per call: the dashboard asks every 30 s, and a shared one would need closing
    # with the app, which the service tier's lifespan does not offer.
    async with tracing.traced(httpx.AsyncClient()) as client:
        return await read_live(client, request.app.state.prometheus_url, desired)


@router.get("/traces/{identifier}")
async def trace(
    identifier: TraceIdentifier,
    request: Request,
    since: Annotated[str, Query(pattern=SINCE_PATTERN)] = "1h",
) -> TraceView:
    """One request across tiers, by its request, error or trace id (traces.py)."""
    async with tracing.traced(httpx.AsyncClient()) as client:
        return await read_trace(client, request.app.state.logs_url, identifier, since)


@router.get("/promotions/diff")
async def diff(
    source: EnvironmentName, target: EnvironmentName, request: Request, session: SessionDep
) -> PromotionDiff:
    desired = _desired(request)
    return promotion_diff(
        await environment(desired, session, source), await environment(desired, session, target)
    )


@router.post(
    "/deployments",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already recorded: the stored event, nothing added"}},
)
async def record_deployment(
    body: DeploymentRecord, session: SessionDep, response: Response
) -> DeploymentPublic:
    """201 with the new event; 200 with the stored one when this deployment (RECORD_KEY) was
    recorded before, so the release tooling can retry a record without duplicating history."""
    values = body.model_dump()
    inserted = await session.scalar(
        insert(DeploymentEvent)
        .values(**values)
        .on_conflict_do_nothing(constraint=RECORD_CONSTRAINT)
        .returning(DeploymentEvent)
    )
    await session.commit()
    if inserted is not None:
        return _public_event(inserted)
    key = [
        getattr(DeploymentEvent, column).is_not_distinct_from(values[column])
        for column in RECORD_KEY
    ]
    existing = (await session.scalars(select(DeploymentEvent).where(*key))).one()
    response.status_code = status.HTTP_200_OK
    return _public_event(existing)


@router.get("/deployments")
async def deployments(
    session: SessionDep,
    environment: EnvironmentName | None = None,
    stack: StackName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeploymentPublic]:
    query = (
        select(DeploymentEvent)
        .order_by(DeploymentEvent.deployed_at.desc(), DeploymentEvent.id)
        .limit(limit)
    )
    if environment:
        query = query.where(DeploymentEvent.environment == environment)
    if stack:
        query = query.where(DeploymentEvent.stack == stack)
    return [_public_event(event) for event in await session.scalars(query)]
