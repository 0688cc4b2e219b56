"""Where `uo up` gets its images: built from the working tree (environment ``local``), or the
ones an environment's infra files record (pulled from the registry when the engine lacks them)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors

from unifyops_core.naming import PYTHON_TIERS, STACKS, Component
from uo.images import info_file
from uo.local import rebuild
from uo.local.reconcile import MissingImageError
from uo.local.topology import StackImages
from uo.pants_runner import Pants

POSTGRES_TARGET = "src/docker/postgres:image"
EDGE_TARGET = "src/python/uo_edge:image"
PROMETHEUS_TARGET = "src/docker/prometheus:image"
LOGS_TARGET = "src/python/uo_logs:image"
DEFAULT_REGISTRY = "127.0.0.1:5000"


def tier_target(stack: str, tier: str) -> str:
    return Component(stack, tier).pex_target.replace(":bin", ":image")


def app_target(stack: str) -> str:
    return f"src/web:{stack}_app_image"


def image_targets(stacks: list[str]) -> list[str]:
    targets = [tier_target(stack, tier) for stack in stacks for tier in PYTHON_TIERS]
    return [
        *targets,
        *(app_target(stack) for stack in stacks),
        POSTGRES_TARGET,
        EDGE_TARGET,
        PROMETHEUS_TARGET,
        LOGS_TARGET,
    ]


def _built_reference(dist: Path, target: str) -> str:
    path = info_file(dist, target)
    try:
        info: dict[str, Any] = json.loads(path.read_text())
        return str(info["image_id"])
    except (OSError, ValueError, KeyError) as exc:
        raise MissingImageError(f"{target} was not built ({path} is missing)") from exc


def from_dist(dist: Path, stacks: list[str]) -> tuple[dict[str, StackImages], str]:
    """The images Pants' docker-info files under ``dist`` name (per stack, and the edge)."""
    images = {
        stack: StackImages(
            database=_built_reference(dist, POSTGRES_TARGET),
            service=_built_reference(dist, tier_target(stack, "service")),
            api=_built_reference(dist, tier_target(stack, "api")),
            app=_built_reference(dist, app_target(stack)),
        )
        for stack in stacks
    }
    return images, _built_reference(dist, EDGE_TARGET)


def prometheus_image(dist: Path) -> str:
    """The Prometheus image Pants built (src/docker/prometheus), run beside every environment."""
    return _built_reference(dist, PROMETHEUS_TARGET)


def logs_image(dist: Path) -> str:
    """The log reader image Pants built (src/python/uo_logs), run beside Prometheus."""
    return _built_reference(dist, LOGS_TARGET)


def clean_commit(repo: Path) -> str | None:
    """HEAD when the working tree has no change at all (untracked files included), else None."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else "?"

    if git("status", "--porcelain") != "":
        return None
    head = git("rev-parse", "HEAD")
    return None if head == "?" else head


def already_built(dist: Path, targets: list[str], commit: str, client: docker.DockerClient) -> bool:
    """Every target's last build is of ``commit`` (its tag) and its image is still on the engine."""
    for target in targets:
        try:
            info: dict[str, Any] = json.loads(info_file(dist, target).read_text())
            tag = info["registries"][0]["tags"][0]["tag"]
            client.images.get(info["image_id"])
        except (OSError, ValueError, KeyError, IndexError, docker.errors.ImageNotFound):
            return False
        if tag != commit:
            return False
    return True


def build_working_tree(
    repo: Path, stacks: list[str], report: Callable[[str], None], client: docker.DockerClient
) -> tuple[dict[str, StackImages], str]:
    """The images of these stacks as the working tree defines them: reused when a clean tree's
    commit was built already, else `pants package` (Pants and the engine's layer cache skip what
    did not change)."""
    targets = image_targets(stacks)
    commit = clean_commit(repo)
    if commit and already_built(repo / "dist", targets, commit, client):
        report(f"[local] the images of {commit[:12]} are built; nothing to build")
    else:
        report(f"[local] building {len(targets)} images with Pants (unchanged ones are cached)")
        Pants(repo).run("package", *targets)
    return from_dist(repo / "dist", stacks)


def pull_missing(
    client: docker.DockerClient,
    references: list[str],
    report: Callable[[str], None],
    rebuild_from: tuple[Path, str] | None = None,
) -> dict[str, str]:
    """Pull what the engine lacks. What the registry does not hold either is built again from
    its recorded commit when ``rebuild_from`` (checkout, environment) is given (uo.local.rebuild;
    returns reference -> image id of those), else fails before anything is changed."""
    missing: dict[str, str] = {}
    for reference in references:
        try:
            client.images.get(reference)
            continue
        except docker.errors.ImageNotFound:
            pass
        report(f"pulling {reference}")
        try:
            client.images.pull(reference)
        except docker.errors.APIError as exc:
            missing[reference] = f"{reference} ({exc.explanation or exc})"
    if missing and rebuild_from is not None:
        repo, environment = rebuild_from
        report(
            f"{len(missing)} images are in no registry here: rebuilds from their recorded commits"
        )
        return rebuild.rebuild_missing(client, repo, environment, list(missing), report)
    if missing:
        raise MissingImageError(
            "images neither on the engine nor in the registry, nothing was changed: "
            + "; ".join(missing.values())
        )
    return {}


def stacks_or_all(selected: list[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(selected or STACKS))
    if "auth" not in chosen:
        chosen.insert(0, "auth")  # every stack's api needs the auth stack
    return chosen


__all__ = [
    "DEFAULT_REGISTRY",
    "EDGE_TARGET",
    "LOGS_TARGET",
    "PROMETHEUS_TARGET",
    "already_built",
    "app_target",
    "build_working_tree",
    "clean_commit",
    "from_dist",
    "image_targets",
    "logs_image",
    "prometheus_image",
    "pull_missing",
    "stacks_or_all",
]
