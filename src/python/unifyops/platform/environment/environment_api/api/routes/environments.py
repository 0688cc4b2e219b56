"""Public endpoints: what runs where, deployment history, promotion diffs; recording deployments
needs the deployments:write scope (the release tooling's token has it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from unifyops.platform.environment.environment_service.schemas import (
    DeploymentCreate,
    DeploymentPublic,
    EnvironmentName,
    EnvironmentPublic,
    LiveState,
    PromotionDiff,
    StackName,
    TraceIdentifier,
    TraceView,
)
from unifyops_core.security import require_scopes
from unifyops_core.stack import ServiceDep
from unifyops_core.tokens import Principal

router = APIRouter(prefix="/v1", tags=["environments"])
Reader = Annotated[Principal, Depends(require_scopes("environments:read"))]
Deployer = Annotated[Principal, Depends(require_scopes("deployments:write"))]
# Any user's request, every tier's lines of it: the operators' (admin) scope.
LogReader = Annotated[Principal, Depends(require_scopes("logs:read"))]


@router.get("/environments")
async def environments(_: Reader, service: ServiceDep) -> list[EnvironmentPublic]:
    upstream = await service.get("/internal/environments")
    return [EnvironmentPublic.model_validate(item) for item in upstream.json()]


@router.get("/environments/{name}")
async def environment(name: EnvironmentName, _: Reader, service: ServiceDep) -> EnvironmentPublic:
    return EnvironmentPublic.model_validate(
        (await service.get(f"/internal/environments/{name}")).json()
    )


@router.get("/live")
async def live(_: Reader, service: ServiceDep) -> LiveState:
    """What runs in each environment Prometheus sees (readiness, image, traffic), beside what
    infra/ wants: in sync, drifted or degraded per tier."""
    return LiveState.model_validate((await service.get("/internal/live")).json())


@router.get("/traces/{identifier}")
async def trace(
    identifier: TraceIdentifier,
    _: LogReader,
    service: ServiceDep,
    since: Annotated[str, Query(max_length=40)] = "1h",
) -> TraceView:
    """One request across every tier of this environment, found by its request id, error id
    (from an error response) or trace id: the hops as a tree with status, duration and the
    failing one — the `uo trace` view."""
    upstream = await service.get(f"/internal/traces/{identifier}", params={"since": since})
    return TraceView.model_validate(upstream.json())


@router.get("/promotions/diff")
async def promotion_diff(
    source: EnvironmentName, target: EnvironmentName, _: Reader, service: ServiceDep
) -> PromotionDiff:
    upstream = await service.get(
        "/internal/promotions/diff", params={"source": source, "target": target}
    )
    return PromotionDiff.model_validate(upstream.json())


@router.get("/deployments")
async def deployments(
    _: Reader,
    service: ServiceDep,
    environment: EnvironmentName | None = None,
    stack: StackName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeploymentPublic]:
    params: dict[str, Any] = {"limit": limit}
    if environment:
        params["environment"] = environment
    if stack:
        params["stack"] = stack
    upstream = await service.get("/internal/deployments", params=params)
    return [DeploymentPublic.model_validate(item) for item in upstream.json()]


@router.post(
    "/deployments",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already recorded: the stored event, nothing added"}},
)
async def record_deployment(
    body: DeploymentCreate, deployer: Deployer, service: ServiceDep, response: Response
) -> DeploymentPublic:
    record = {**body.model_dump(), "actor": deployer.subject}
    upstream = await service.post("/internal/deployments", json=record)
    response.status_code = upstream.status_code  # 201 recorded, 200 recorded before
    return DeploymentPublic.model_validate(upstream.json())
