"""Reading the desired state in ``infra/environments``: which image (tag, digest) of each tier and
which unifyops_core version every stack should run in every environment.

Shared by the environment stack (which serves it) and the release tooling (which writes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unifyops_core.naming import ENVIRONMENTS, IMAGE_TIERS, STACKS


class DesiredStateError(Exception):
    """An infra file is missing, unreadable or not in the expected shape."""


@dataclass(frozen=True)
class TierImage:
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What identifies the running image: the digest when known, else the tag."""
        return self.digest or self.tag or ""


@dataclass(frozen=True)
class StackState:
    environment: str
    stack: str
    core_version: str | None
    tiers: dict[str, TierImage] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvironmentState:
    name: str
    namespace: str
    domain: str | None
    stacks: dict[str, StackState] = field(default_factory=dict)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DesiredStateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DesiredStateError(f"{path}: expected a mapping")
    return data


def read_stack(root: Path, environment: str, stack: str) -> StackState:
    data = _load(root / environment / f"{stack}.yaml")
    tiers: dict[str, TierImage] = {}
    for tier in IMAGE_TIERS:
        image = ((data.get("tiers") or {}).get(tier) or {}).get("image") or {}
        tiers[tier] = TierImage(tag=image.get("tag") or None, digest=image.get("digest") or None)
    return StackState(environment, stack, data.get("coreVersion") or None, tiers)


def read_environment(root: Path, environment: str) -> EnvironmentState:
    folder = root / environment
    if not folder.is_dir():
        raise DesiredStateError(f"{folder}: no such environment folder")
    env = _load(folder / "env.yaml")
    stacks = {
        stack: read_stack(root, environment, stack)
        for stack in STACKS
        if (folder / f"{stack}.yaml").is_file()
    }
    return EnvironmentState(
        name=environment,
        namespace=str(env.get("namespace", f"uo-{environment}")),
        domain=(env.get("ingress") or {}).get("domain"),
        stacks=stacks,
    )


def read_all(root: Path) -> dict[str, EnvironmentState]:
    """Every known environment that has a folder under ``root`` (infra/environments)."""
    return {env: read_environment(root, env) for env in ENVIRONMENTS if (root / env).is_dir()}


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Changes whenever a file under ``root`` changes: a cheap key for caching what was read."""
    return tuple(
        sorted(
            (str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*.yaml")
        )
    )


__all__ = [
    "DesiredStateError",
    "EnvironmentState",
    "StackState",
    "TierImage",
    "fingerprint",
    "read_all",
    "read_environment",
    "read_stack",
]
