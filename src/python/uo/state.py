"""Reading what runs where (uo status, uo where) and promoting it between environments."""

from __future__ import annotations

from pathlib import Path

from unifyops_core.desired_state import EnvironmentState, read_all
from unifyops_core.naming import STACKS, TIER_PORTS
from uo.bump import Release
from uo.repo import ENVIRONMENTS_PATH


def environments(repo: Path) -> dict[str, EnvironmentState]:
    return read_all(repo / ENVIRONMENTS_PATH)


def status_rows(repo: Path) -> list[tuple[str, str, str, str, str, str]]:
    """(environment, stack, tier, tag, digest, core version) for every deployed tier."""
    rows = []
    for env, state in environments(repo).items():
        for stack, stack_state in state.stacks.items():
            for tier, image in stack_state.tiers.items():
                rows.append(
                    (
                        env,
                        stack,
                        tier,
                        image.tag or "-",
                        image.digest or "-",
                        stack_state.core_version or "-",
                    )
                )
    return rows


def where_core(repo: Path, version: str) -> list[tuple[str, str]]:
    """(environment, stack) pairs that run this unifyops_core version."""
    return [
        (env, stack)
        for env, state in environments(repo).items()
        for stack, stack_state in state.stacks.items()
        if stack_state.core_version == version
    ]


def promotion(
    repo: Path, source: str, target: str, stacks: list[str] | None = None
) -> list[Release]:
    """Releases that make ``target`` run exactly what ``source`` runs (for the chosen stacks)."""
    states = environments(repo)
    releases = []
    for stack in stacks or list(STACKS):
        from_stack = states[source].stacks.get(stack)
        to_stack = states[target].stacks.get(stack)
        if from_stack is None or to_stack is None:
            continue
        for tier in TIER_PORTS:
            image = from_stack.tiers[tier]
            if image.tag and (
                image != to_stack.tiers[tier] or from_stack.core_version != to_stack.core_version
            ):
                releases.append(
                    Release(stack, tier, image.tag, image.digest, from_stack.core_version)
                )
    return releases


__all__ = ["environments", "promotion", "status_rows", "where_core"]
