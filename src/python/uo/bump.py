"""Write released images into the desired state: tag, digest and core version of each image into
infra/environments/<env>/<stack>.yaml, with comment- and order-preserving edits, as exactly one
commit listing the images (none when nothing changed). Rollback is `git revert` of that commit.

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

from unifyops_core.naming import ENVIRONMENTS, infra_file


class BumpError(Exception):
    """The manifest or the repository is not in a state a bump can be made from."""


@dataclass(frozen=True)
class Release:
    stack: str
    tier: str
    tag: str
    digest: str | None
    core_version: str | None

    @property
    def label(self) -> str:
        return f"{self.stack}-{self.tier} {self.tag[:12]}" + (
            f" {self.digest[:19]}" if self.digest else ""
        )


def releases_from_manifest(manifest: Path) -> list[Release]:
    try:
        images = json.loads(manifest.read_text())["images"]
    except (OSError, ValueError, KeyError) as exc:
        raise BumpError(f"{manifest}: not a release manifest ({exc})") from exc
    return [
        Release(i["stack"], i["tier"], i["tag"], i.get("digest"), i.get("core_version"))
        for i in images
        if i.get("stack") and i.get("tier") in ("app", "api", "service")
    ]


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 120
    return yaml


def apply(document: Any, releases: list[Release]) -> bool:
    """Set the releases' images in a parsed stack file; True when anything changed."""
    changed = False
    tiers = document.setdefault("tiers", CommentedMap())
    for release in releases:
        image = tiers.setdefault(release.tier, CommentedMap()).setdefault("image", CommentedMap())
        wanted = {"tag": release.tag, **({"digest": release.digest} if release.digest else {})}
        for key, value in wanted.items():
            if image.get(key) != value:
                image[key] = value
                changed = True
        if release.core_version and document.get("coreVersion") != release.core_version:
            document["coreVersion"] = release.core_version
            changed = True
    return changed


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise BumpError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def bump(
    repo: Path, environment: str, releases: list[Release], *, push: bool = False, retries: int = 3
) -> str | None:
    """Write and commit the releases; returns the commit id, or None when nothing changed."""
    if environment not in ENVIRONMENTS:
        raise BumpError(f"unknown environment {environment!r}; known: {', '.join(ENVIRONMENTS)}")
    if _git(repo, "status", "--porcelain", "--", "infra/environments"):
        raise BumpError("infra/environments has uncommitted changes; commit or stash them first")
    yaml = _yaml()
    touched: list[str] = []
    by_stack: dict[str, list[Release]] = {}
    for release in releases:
        by_stack.setdefault(release.stack, []).append(release)
    for stack, stack_releases in sorted(by_stack.items()):
        path = repo / infra_file(environment, stack)
        if not path.is_file():
            raise BumpError(f"{path.relative_to(repo)} does not exist")
        document = yaml.load(path.read_text())
        if apply(document, stack_releases):
            buffer = io.StringIO()
            yaml.dump(document, buffer)
            path.write_text(buffer.getvalue())
            touched.append(str(path.relative_to(repo)))
    if not touched:
        return None
    _git(repo, "add", "--", *touched)
    lines = "\n".join(f"- {release.label}" for release in releases)
    _git(repo, "commit", "-q", "-m", f"release({environment}): {len(releases)} image(s)\n\n{lines}")
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


__all__ = ["BumpError", "Release", "apply", "bump", "releases_from_manifest"]
