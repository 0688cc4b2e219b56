"""`<env>-latest` tags: the seed's quick-rollback aid. After `uo bump`/`uo promote`, every image an
environment was given is also tagged ``<env>-latest`` in the registry, so "what did <env> get last"
is one pull away. They are a convenience only: infra/ keeps pinning digests, and nothing deploys
from these tags. Moved over the registry API (a manifest PUT under the new tag: no pull, no push).
"""

from __future__ import annotations

from dataclasses import dataclass

from uo.registry import Registry
from uo.units import REPOSITORIES


@dataclass(frozen=True)
class Pin:
    repository: str
    digest: str


def repository_of(stack: str, tier: str) -> str:
    """The image repository of a stack's tier (a stack's database is the shared postgres image)."""
    if tier == "database":
        tier_key: tuple[str, str] = ("shared", "database")
    else:
        tier_key = (stack, tier)
    for repository, unit in REPOSITORIES.items():
        if unit == tier_key:
            return repository
    raise KeyError(f"{stack}/{tier}")


def latest_tag(environment: str) -> str:
    return f"{environment}-latest"


def move_latest(registry: Registry, environment: str, pins: list[Pin]) -> list[str]:
    """Point ``<env>-latest`` of each repository at its pinned digest; returns one line per tag
    that moved (none when they all pointed there already)."""
    tag = latest_tag(environment)
    moved = []
    for pin in {pin.repository: pin for pin in pins}.values():  # one digest per repository
        if registry.tag(pin.repository, pin.digest, tag):
            moved.append(f"{registry.reference(pin.repository)}:{tag} -> {pin.digest}")
    return moved


__all__ = ["Pin", "latest_tag", "move_latest", "repository_of"]
