"""The desired state: read from infra/ (a checkout mounted into the service, cached until a file
there changes), or, where no checkout is mounted (a cluster), as the release loop recorded it.

Recorded: every bump and promotion the release loop makes is one infra commit Argo CD applies,
and the loop records it through environment-api (`uo bump|promote --record`, one event per tier
with that commit). The newest event per environment, stack and tier is then what the newest
infra commit pins: the desired state with no checkout, no git access and no extra component. A
`git revert` is a new commit too, and counts once the workflow records it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.platform.environment.environment_service.models import DeploymentEvent
from unifyops.platform.environment.environment_service.schemas import (
    EnvironmentPublic,
    PromotionChange,
    PromotionDiff,
    StackPublic,
    TierImagePublic,
)
from unifyops_core.desired_state import (
    EnvironmentState,
    StackState,
    TierImage,
    fingerprint,
    read_all,
)
from unifyops_core.exceptions import DependencyUnavailableError, NotFoundError
from unifyops_core.naming import IMAGE_TIERS, STACKS


class DesiredState(Protocol):
    async def environments(self, session: AsyncSession) -> dict[str, EnvironmentState]: ...


async def environment(source: DesiredState, session: AsyncSession, name: str) -> EnvironmentState:
    state = (await source.environments(session)).get(name)
    if state is None:
        raise NotFoundError("Environment not found", details={"environment": name})
    return state


class DesiredStateCache:
    """infra/environments of a checkout (the session is not used)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._key: object = None
        self._state: dict[str, EnvironmentState] = {}

    async def environments(self, session: AsyncSession) -> dict[str, EnvironmentState]:
        if not self._root.is_dir():
            raise DependencyUnavailableError("The desired state (infra/) is not available")
        key = fingerprint(self._root)
        if key != self._key:
            self._state = read_all(self._root)
            self._key = key
        return self._state


class RecordedDesiredState:
    """The newest recorded deployment of each (environment, stack, tier); see the module."""

    async def environments(self, session: AsyncSession) -> dict[str, EnvironmentState]:
        newest = (
            select(DeploymentEvent)
            .distinct(DeploymentEvent.environment, DeploymentEvent.stack, DeploymentEvent.tier)
            .order_by(
                DeploymentEvent.environment,
                DeploymentEvent.stack,
                DeploymentEvent.tier,
                DeploymentEvent.deployed_at.desc(),
            )
        )
        by_stack: dict[tuple[str, str], list[DeploymentEvent]] = defaultdict(list)
        for event in await session.scalars(newest):
            by_stack[event.environment, event.stack].append(event)
        environments: dict[str, EnvironmentState] = {}
        for (name, stack), events in sorted(by_stack.items()):
            latest = max(events, key=lambda event: event.deployed_at)
            state = environments.setdefault(
                name, EnvironmentState(name=name, namespace=f"uo-{name}", domain=None)
            )
            state.stacks[stack] = StackState(
                name,
                stack,
                latest.core_version,
                {e.tier: TierImage(tag=e.tag, digest=e.digest) for e in events},
            )
        return environments


def public(state: EnvironmentState) -> EnvironmentPublic:
    return EnvironmentPublic(
        name=state.name,
        namespace=state.namespace,
        domain=state.domain,
        stacks={
            name: StackPublic(
                stack=name,
                core_version=stack.core_version,
                tiers={
                    tier: TierImagePublic(tag=i.tag, digest=i.digest)
                    for tier, i in stack.tiers.items()
                },
            )
            for name, stack in state.stacks.items()
        },
    )


def promotion_diff(source: EnvironmentState, target: EnvironmentState) -> PromotionDiff:
    """What promoting ``source``'s images to ``target`` would change, tier by tier."""
    changes = []
    for stack in STACKS:
        for tier in IMAGE_TIERS:
            source_stack, target_stack = source.stacks.get(stack), target.stacks.get(stack)
            # A recorded stack may lack a tier (never released there): nothing to compare.
            target_image = target_stack.tiers.get(tier) if target_stack else None
            source_image = source_stack.tiers.get(tier) if source_stack else None
            before = target_image.reference if target_image else None
            after = source_image.reference if source_image else None
            changes.append(
                PromotionChange(
                    stack=stack, tier=tier, source=after, target=before, changes=before != after
                )
            )
    return PromotionDiff(source=source.name, target=target.name, changes=changes)
