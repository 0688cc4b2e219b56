"""Write released images into the desired state: tag, digest and core version of each image into
infra/environments/<env>/<stack>.yaml, with comment- and order-preserving edits, as exactly one
commit listing the images (none when nothing changed). Rollback is `git revert` of that commit.

Where each kind of image goes is uo.units' rule: a stack's tier into ``tiers.<tier>.image`` of
its file; the database image into ``database.internal.image`` of every stack file of the
environment that runs an internal database; the edge nowhere (``not_recorded`` lists it).

With ``push=True`` the commit is pushed; if the branch moved meanwhile, the commit is rebased onto
it and pushed again, so neither side's commit is lost.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from unifyops_core.naming import ENVIRONMENTS, STACKS, infra_file
from uo.charts import ChartPin, pin_path, write_pin
from uo.errors import BumpError, ImageKindError
from uo.units import NOT_RECORDED, REPOSITORIES


@dataclass(frozen=True)
class Release:
    stack: str
    tier: str
    tag: str
    digest: str | None
    core_version: str | None

    @property
    def recorded(self) -> bool:
        """Whether infra/ records this image (every kind but the edge and Prometheus, which only
        `uo up` runs)."""
        return (self.stack, self.tier) not in NOT_RECORDED

    @property
    def label(self) -> str:
        return f"{self.stack}-{self.tier} {self.tag[:12]}" + (
            f" {self.digest[:19]}" if self.digest else ""
        )


def releases_from_manifest(manifest: Path) -> list[Release]:
    """Every image of a release manifest (`uo publish`/`uo images`), of every kind."""
    try:
        images = json.loads(manifest.read_text())["images"]
        releases = [
            Release(i["stack"], i["tier"], i["tag"], i.get("digest"), i.get("core_version"))
            for i in images
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BumpError(f"{manifest}: not a release manifest ({exc})") from exc
    for release in releases:
        if (release.stack, release.tier) not in REPOSITORIES.values():
            raise ImageKindError(
                f"{manifest}: {release.stack}/{release.tier} is no image of the naming contract"
            )
    return releases


def not_recorded(releases: list[Release]) -> list[Release]:
    """The releases `bump` leaves out of infra/ (the edge)."""
    return [release for release in releases if not release.recorded]


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    # Never wrap: an image pin (tag and digest) stays one line, so a release is a one-line diff
    # per image and its revert is exactly that.
    yaml.width = 4096
    return yaml


def apply(document: Any, releases: list[Release]) -> bool:
    """Set the releases' images in a parsed stack file; True when anything changed."""
    changed = False
    for release in releases:
        if release.tier == "database":
            internal = (document.get("database") or {}).get("internal")
            if internal is None:
                continue  # this stack runs on an external database
            image = internal.setdefault("image", CommentedMap())
        else:
            tiers = document.setdefault("tiers", CommentedMap())
            image = tiers.setdefault(release.tier, CommentedMap()).setdefault(
                "image", CommentedMap()
            )
        wanted = {"tag": release.tag, **({"digest": release.digest} if release.digest else {})}
        for key, value in wanted.items():
            if image.get(key) != value:
                image[key] = value
                changed = True
        if release.core_version and document.get("coreVersion") != release.core_version:
            document["coreVersion"] = release.core_version
            changed = True
    return changed


def _by_stack_file(
    repo: Path, environment: str, releases: list[Release]
) -> dict[str, list[Release]]:
    """stack -> the releases its file takes: its own tiers, plus the database image when any."""
    by_stack: dict[str, list[Release]] = {}
    for release in releases:
        if release.stack in STACKS:
            by_stack.setdefault(release.stack, []).append(release)
        elif release.tier == "database":
            for stack in STACKS:
                if (repo / infra_file(environment, stack)).is_file():
                    by_stack.setdefault(stack, []).append(release)
    return by_stack


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise BumpError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def bump(
    repo: Path,
    environment: str,
    releases: list[Release],
    *,
    chart: ChartPin | None = None,
    push: bool = False,
    retries: int = 3,
) -> str | None:
    """Write and commit the releases (and the chart pin, when given); returns the commit id, or
    None when nothing changed."""
    if environment not in ENVIRONMENTS:
        raise BumpError(f"unknown environment {environment!r}; known: {', '.join(ENVIRONMENTS)}")
    if _git(repo, "status", "--porcelain", "--", "infra/environments"):
        raise BumpError("infra/environments has uncommitted changes; commit or stash them first")
    yaml = _yaml()
    touched: list[str] = []
    recorded = [release for release in releases if release.recorded]
    for stack, stack_releases in sorted(_by_stack_file(repo, environment, recorded).items()):
        path = repo / infra_file(environment, stack)
        if not path.is_file():
            raise BumpError(f"{path.relative_to(repo)} does not exist")
        document = yaml.load(path.read_text())
        if apply(document, stack_releases):
            buffer = io.StringIO()
            yaml.dump(document, buffer)
            path.write_text(buffer.getvalue())
            touched.append(str(path.relative_to(repo)))
    chart_changed = chart is not None and write_pin(repo, environment, chart)
    if chart_changed:
        touched.append(str(pin_path(repo, environment).relative_to(repo)))
    if not touched:
        return None
    _git(repo, "add", "--", *touched)
    labels = [release.label for release in recorded]
    parts = [f"{len(recorded)} image(s)"] if recorded else []
    if chart is not None and chart_changed:
        labels.append(f"chart {chart.name} {chart.version}")
        parts.append("the chart")
    lines = "\n".join(f"- {label}" for label in labels)
    what = " and ".join(parts)
    _git(repo, "commit", "-q", "-m", f"release({environment}): {what}\n\n{lines}")
    if push:
        _push_with_rebase(repo, retries)
    return _git(repo, "rev-parse", "HEAD")


def _push_with_rebase(repo: Path, retries: int) -> None:
    for _ in range(retries):
        pushed = subprocess.run(["git", "push", "-q"], cwd=repo, capture_output=True, text=True)
        if pushed.returncode == 0:
            return
        # Someone else committed first: replay our commit on top of theirs and try again.
        _git(repo, "pull", "-q", "--rebase")
    raise BumpError(f"could not push after {retries} attempts")


__all__ = ["BumpError", "Release", "apply", "bump", "not_recorded", "releases_from_manifest"]
