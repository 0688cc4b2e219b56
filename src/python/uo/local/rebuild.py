"""Images an environment records that neither the engine nor the registry holds, built again
from the commit that made them.

infra/ records releases as image tags (the commit) and digests. On a fresh machine, or after the
registry lost them, `uo up --env <env>` does not give up: it checks that commit out in a
throwaway worktree, has Pants package the missing images there (one call per commit), and runs
what it built. A build is not guaranteed to be byte-identical to the recorded release, so when a
digest was recorded it says so plainly: the rebuilt image stands in for that digest, it is not it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from ruamel.yaml import YAML

from uo.images import info_file
from uo.local.reconcile import MissingImageError
from uo.pants_runner import Pants
from uo.repo import ENVIRONMENTS_PATH

Report = Callable[[str], None]


@dataclass(frozen=True)
class Wanted:
    """A rendered image reference and what infra says it is."""

    reference: str
    repository: str  # e.g. unifyops/user-service
    commit: str  # the recorded tag ("" when none is recorded)
    digest: str  # the recorded digest ("" when none is recorded)


def split_reference(reference: str) -> tuple[str, str, str]:
    """``registry/unifyops/name@digest`` or ``...:tag`` -> (repository, tag, digest)."""
    name, _, digest = reference.partition("@")
    if not digest:
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
            return "/".join(name.split("/")[-2:]), tag, ""
    return "/".join(name.split("/")[-2:]), "", digest


def images_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every image pin (a mapping with a tag or digest) in a values document."""
    if isinstance(node, dict):
        if "tag" in node or "digest" in node:
            yield node
        for value in node.values():
            yield from images_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from images_in(value)


def recorded_tags(repo: Path, environment: str) -> dict[str, str]:
    """digest -> tag of every image the environment's infra files record with both."""
    found: dict[str, str] = {}
    for path in sorted((repo / ENVIRONMENTS_PATH / environment).glob("*.yaml")):
        for image in images_in(YAML(typ="safe").load(path.read_text())):
            if image.get("digest") and image.get("tag"):
                found[str(image["digest"])] = str(image["tag"])
    return found


def wanted(repo: Path, environment: str, references: Iterable[str]) -> list[Wanted]:
    tags = recorded_tags(repo, environment)
    result = []
    for reference in references:
        repository, tag, digest = split_reference(reference)
        result.append(Wanted(reference, repository, tag or tags.get(digest, ""), digest))
    return result


def is_commit(repo: Path, sha: str) -> bool:
    if not sha or len(sha) < 7 or any(c not in "0123456789abcdef" for c in sha):
        return False
    probe = ["git", "cat-file", "-e", f"{sha}^{{commit}}"]
    return subprocess.run(probe, cwd=repo, capture_output=True).returncode == 0


def _git(repo: Path, *args: str) -> None:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise MissingImageError(f"git {' '.join(args)}: {result.stderr.strip()}")


def _targets_by_repository(pants: Pants) -> dict[str, str]:
    lines = pants.run("--no-pantsd", "peek", "--filter-target-type=docker_image", "::")
    targets: list[dict[str, Any]] = json.loads("\n".join(lines)) if lines else []
    return {str(t.get("repository")): str(t["address"]) for t in targets if t.get("repository")}


def build_at(repo: Path, commit: str, repositories: list[str], report: Report) -> dict[str, str]:
    """repository -> image id, packaged by Pants in a throwaway worktree of ``commit``."""
    with tempfile.TemporaryDirectory(prefix="uo-rebuild-") as scratch:
        tree = Path(scratch) / commit[:12]
        _git(repo, "worktree", "add", "--detach", str(tree), commit)
        try:
            # No daemon: nothing of this worktree outlives the build.
            pants = Pants(tree)
            known = _targets_by_repository(pants)
            unknown = [r for r in repositories if r not in known]
            if unknown:
                raise MissingImageError(
                    f"commit {commit[:12]} has no image target for {', '.join(unknown)}"
                )
            addresses = [known[r] for r in repositories]
            report(f"building {len(addresses)} images of {commit[:12]} in a throwaway worktree")
            pants.run("--no-pantsd", "package", *addresses)
            built = {}
            for repository, address in zip(repositories, addresses, strict=True):
                info = json.loads(info_file(tree / "dist", address).read_text())
                built[repository] = str(info["image_id"])
            return built
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))


REBUILT_SUFFIX = "-rebuilt"


def rebuilt_tag(item: Wanted) -> tuple[str, str]:
    """Where a rebuild is kept on the engine (never pushed): ``<name>:<commit>-rebuilt``, so a
    second `uo up` reuses it and nobody takes it for the recorded release."""
    name = item.reference.partition("@")[0]
    if not item.digest:
        name = name[: name.rfind(":")]
    return name, item.commit + REBUILT_SUFFIX


def rebuild_missing(
    client: docker.DockerClient,
    repo: Path,
    environment: str,
    references: list[str],
    report: Report,
) -> dict[str, str]:
    """reference -> image id for each reference rebuilt from its recorded commit (or rebuilt by
    an earlier run); a reference without a commit of this repository fails with what is missing,
    before anything changed."""
    substitutes = {}
    needed = []
    for item in wanted(repo, environment, references):
        name, tag = rebuilt_tag(item)
        try:
            earlier = client.images.get(f"{name}:{tag}")
        except docker.errors.ImageNotFound:
            needed.append(item)
            continue
        report(f"{item.repository}: using the rebuild of {item.commit[:12]} made earlier")
        substitutes[item.reference] = str(earlier.id)
    unbuildable = [w.reference for w in needed if not is_commit(repo, w.commit)]
    if unbuildable:
        raise MissingImageError(
            "images neither on the engine nor in the registry, and not recorded with a commit "
            "of this repository to build them from; nothing was changed: " + ", ".join(unbuildable)
        )
    by_commit: dict[str, list[Wanted]] = defaultdict(list)
    for item in needed:
        by_commit[item.commit].append(item)
    for commit, items in by_commit.items():
        repositories = sorted({w.repository for w in items})
        built = build_at(repo, commit, repositories, report)
        for item in items:
            image = client.images.get(built[item.repository])
            image_id = str(image.id)  # the full id (Pants' info file may hold a short one)
            substitutes[item.reference] = image_id
            image.tag(*rebuilt_tag(item))
            if item.digest:
                report(
                    f"{item.repository}: rebuilt from {commit[:12]} as {image_id[:19]}; the "
                    f"recorded release is {item.digest[:19]}: a rebuild is not byte-identical, "
                    "so this runs the same source, not the recorded image"
                )
            else:
                report(f"{item.repository}: rebuilt from {commit[:12]} as {image_id[:19]}")
    return substitutes


__all__ = [
    "Wanted",
    "build_at",
    "images_in",
    "is_commit",
    "rebuild_missing",
    "rebuilt_tag",
    "recorded_tags",
    "split_reference",
    "wanted",
]
