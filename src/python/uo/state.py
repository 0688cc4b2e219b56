"""Reading what runs where (uo status, uo where) and promoting it between environments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from unifyops_core.desired_state import DesiredStateError, EnvironmentState, TierImage, read_all
from unifyops_core.naming import ENVIRONMENTS, IMAGE_TIERS, STACKS, infra_file
from uo.bump import Release
from uo.charts import ChartPin, chart_repository, pin_path, read_pin
from uo.errors import InfraError, UsageError
from uo.repo import ENVIRONMENTS_PATH


def environments(repo: Path) -> dict[str, EnvironmentState]:
    try:
        return read_all(repo / ENVIRONMENTS_PATH)
    except DesiredStateError as exc:  # core's reader cannot raise uo's errors (core imports no uo)
        raise InfraError(str(exc)) from exc


def database_image(repo: Path, environment: str, stack: str) -> TierImage | None:
    """``database.internal.image`` of a stack file (None: the stack uses an external database)."""
    path = repo / infra_file(environment, stack)
    try:
        data: Any = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InfraError(f"{path.relative_to(repo)}: {exc}") from exc
    internal = (data.get("database") or {}).get("internal")
    if internal is None:
        return None
    image = internal.get("image") or {}
    return TierImage(tag=image.get("tag") or None, digest=image.get("digest") or None)


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
            database = database_image(repo, env, stack)
            if database:
                rows.append(
                    (env, stack, "database", database.tag or "-", database.digest or "-", "-")
                )
    return rows


CORE_VERSION_FILE = "src/python/unifyops_core/_version.py"
LOCAL = "local"  # `uo up` without --env: every stack, built from the working tree


def checkout_core_version(repo: Path) -> str | None:
    """The unifyops_core version of the checkout, which environment ``local`` runs (read from
    the file rather than imported: this uo may have been packaged from another commit); None
    in a tree without the core's sources (it runs no ``local``)."""
    path = repo / CORE_VERSION_FILE
    if not path.is_file():
        return None
    match = re.search(r'^__version__ = "([^"]+)"$', path.read_text(), re.MULTILINE)
    if match is None:
        raise InfraError(f"{CORE_VERSION_FILE} sets no __version__")
    return match[1]


def core_versions(repo: Path) -> dict[str, list[str]]:
    """Every core version that runs somewhere → the ``<env>/<stack>`` pairs running it, local's
    included (what `uo where` suggests when nothing matches)."""
    found: dict[str, list[str]] = {}
    checkout = checkout_core_version(repo)
    if checkout is not None:
        found[checkout] = [f"{LOCAL}/{stack}" for stack in STACKS]
    for env, state in environments(repo).items():
        for stack, stack_state in state.stacks.items():
            if stack_state.core_version:
                found.setdefault(stack_state.core_version, []).append(f"{env}/{stack}")
    return found


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
    """Releases that make ``target`` run exactly what ``source`` runs (for the chosen stacks):
    the tiers' images and core version, and the internal database's image."""
    for env in (source, target):
        if env not in ENVIRONMENTS:
            raise UsageError(f"unknown environment {env!r}; known: {', '.join(ENVIRONMENTS)}")
    states = environments(repo)
    for env in (source, target):
        if env not in states:
            raise InfraError(f"{ENVIRONMENTS_PATH}/{env} does not exist")
    releases = []
    for stack in stacks or list(STACKS):
        from_stack = states[source].stacks.get(stack)
        to_stack = states[target].stacks.get(stack)
        if from_stack is None or to_stack is None:
            continue
        for tier in IMAGE_TIERS:
            image = from_stack.tiers[tier]
            if image.tag and (
                image != to_stack.tiers[tier] or from_stack.core_version != to_stack.core_version
            ):
                releases.append(
                    Release(stack, tier, image.tag, image.digest, from_stack.core_version)
                )
        database = database_image(repo, source, stack)
        if database and database.tag and database != database_image(repo, target, stack):
            releases.append(Release(stack, "database", database.tag, database.digest, None))
    return releases


def _short(tag: str | None) -> str:
    return tag[:12] if tag else "(none)"


def promotion_lines(repo: Path, target: str, releases: list[Release]) -> list[str]:
    """What a promotion changes in ``target``, one line per image: what it runs now -> what it
    will run (tag, digest, core version)."""
    state = environments(repo)[target]
    lines = []
    for release in releases:
        stack = state.stacks.get(release.stack)
        if release.tier == "database":
            held, core = database_image(repo, target, release.stack), None
        else:
            held = stack.tiers.get(release.tier) if stack else None
            core = stack.core_version if stack else None
        old = _short(held.tag if held else None) + (f" core {core}" if core else "")
        new = " ".join(
            part
            for part in (
                release.tag[:12],
                release.digest or "",
                f"core {release.core_version}" if release.core_version else "",
            )
            if part
        )
        lines.append(f"{target}: {release.stack}-{release.tier} {old} -> {new}")
    return lines


def chart_promotion_line(repo: Path, target: str, chart: ChartPin) -> str:
    """The chart line of a promotion: the version ``target`` pins now -> the promoted one."""
    held = read_pin(repo, target).version if pin_path(repo, target).is_file() else "(none)"
    return f"{target}: chart {chart.name} {held} -> {chart.version} {chart.digest or ''}".rstrip()


def chart_promotion(repo: Path, source: str, target: str) -> ChartPin | None:
    """The chart pin that makes ``target`` run ``source``'s chart (its version and digest, pulled
    from ``target``'s own chart repository); None when they already match."""
    if not pin_path(repo, source).is_file():
        return None  # source pins no chart: nothing to carry
    wanted = read_pin(repo, source)
    if pin_path(repo, target).is_file():
        held = read_pin(repo, target)
        if (wanted.name, wanted.version, wanted.digest) == (held.name, held.version, held.digest):
            return None
    return ChartPin(chart_repository(repo, target), wanted.name, wanted.version, wanted.digest)


__all__ = [
    "chart_promotion",
    "database_image",
    "environments",
    "promotion",
    "status_rows",
    "where_core",
]
