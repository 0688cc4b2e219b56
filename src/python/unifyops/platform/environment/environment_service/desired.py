"""The desired state read from infra/, cached until a file there changes."""

from __future__ import annotations

from pathlib import Path

from unifyops.platform.environment.environment_service.schemas import (
    EnvironmentPublic,
    PromotionChange,
    PromotionDiff,
    StackPublic,
    TierImagePublic,
)
from unifyops_core.desired_state import EnvironmentState, fingerprint, read_all
from unifyops_core.exceptions import DependencyUnavailableError, NotFoundError
from unifyops_core.naming import IMAGE_TIERS, STACKS


class DesiredStateCache:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._key: object = None
        self._state: dict[str, EnvironmentState] = {}

    def environments(self) -> dict[str, EnvironmentState]:
        if not self._root.is_dir():
            raise DependencyUnavailableError("The desired state (infra/) is not available")
        key = fingerprint(self._root)
        if key != self._key:
            self._state = read_all(self._root)
            self._key = key
        return self._state

    def environment(self, name: str) -> EnvironmentState:
        state = self.environments().get(name)
        if state is None:
            raise NotFoundError("Environment not found", details={"environment": name})
        return state


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
            before = target_stack.tiers[tier].reference if target_stack else None
            after = source_stack.tiers[tier].reference if source_stack else None
            changes.append(
                PromotionChange(
                    stack=stack, tier=tier, source=after, target=before, changes=before != after
                )
            )
    return PromotionDiff(source=source.name, target=target.name, changes=changes)
