"""`uo prune`: the images this project built that nothing needs any more.

Every `uo up` of a changed working tree, every release build and every test run leaves images
behind (the engine here stores each layer as a full copy), so an engine left alone fills its disk.
An image is removed only when all of these hold:

- it is one of ours: a repository ``unifyops/<name>`` (any registry prefix) or the tests'
  ``uo-e2e/…``/``uo-test/…``, but never a base image (``unifyops/base-*``: rebuilt with
  mmdebstrap, minutes each);
- no container uses it, running or stopped (a stopped replica may be started again);
- it is not among the ``keep`` newest images of its repository (what the next build reuses
  layers from, and what a rollback on this machine would run);
- none of its tags is one infra/ records for an environment (``uo up --env`` runs those).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import docker
from docker.models.images import Image

OURS = re.compile(r"^(?:[^/]+(?::\d+)?/)?(?:unifyops|uo-e2e|uo-test)/(?P<name>[^:@]+)$")
BASE = re.compile(r"^(?:[^/]+(?::\d+)?/)?unifyops/base-")
Report = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    image_id: str
    repositories: tuple[str, ...]
    tags: tuple[str, ...]
    created: datetime
    size: int


@dataclass(frozen=True)
class Verdict:
    removed: list[Candidate]
    kept: int


def repository_of(tag: str) -> str:
    """``127.0.0.1:5000/unifyops/user-api:abc`` -> ``127.0.0.1:5000/unifyops/user-api``."""
    name, _, last = tag.rpartition(":")
    return name if name and "/" not in last else tag


def name_of(repository: str) -> str | None:
    """The image name of one of our repositories (``user-api``), else None."""
    match = OURS.match(repository)
    return match["name"] if match and not BASE.match(repository) else None


def is_ours(repository: str) -> bool:
    return name_of(repository) is not None


def candidates(images: Iterable[Image]) -> list[Candidate]:
    found = []
    for image in images:
        tags = tuple(image.tags)
        repositories = tuple(sorted({repository_of(tag) for tag in tags}))
        if not repositories or not any(is_ours(r) for r in repositories):
            continue
        if any(BASE.match(r) for r in repositories):
            continue
        created = datetime.fromisoformat(str(image.attrs["Created"]).replace("Z", "+00:00")[:26])
        found.append(
            Candidate(str(image.id), repositories, tags, created, int(image.attrs.get("Size", 0)))
        )
    return found


def choose(
    found: list[Candidate], *, in_use: set[str], recorded_tags: set[str], keep: int
) -> Verdict:
    """Which candidates to remove (see the module's rules)."""
    newest: set[str] = set()
    for repository in {r for c in found for r in c.repositories}:
        of_repository = [c for c in found if repository in c.repositories]
        of_repository.sort(key=lambda c: c.created, reverse=True)
        newest |= {c.image_id for c in of_repository[:keep]}
    removed = [
        c
        for c in found
        if c.image_id not in in_use
        and c.image_id not in newest
        and not any(tag.rpartition(":")[2] in recorded_tags for tag in c.tags)
    ]
    return Verdict(removed, len(found) - len(removed))


def prune(
    client: docker.DockerClient,
    *,
    recorded_tags: set[str],
    keep: int,
    dry_run: bool,
    only: str | None,
    report: Report,
) -> Verdict:
    """Remove (or with ``dry_run`` only list) what ``choose`` picks; ``only``: a repository name
    (``user-api``) or a prefix of one, to limit the pruning."""
    in_use = {str(c.image.id) for c in client.containers.list(all=True) if c.image is not None}
    found = candidates(client.images.list())
    if only:
        found = [
            c for c in found if any((name_of(r) or "").startswith(only) for r in c.repositories)
        ]
    verdict = choose(found, in_use=in_use, recorded_tags=recorded_tags, keep=keep)
    for candidate in verdict.removed:
        label = candidate.tags[0] if candidate.tags else candidate.image_id[:19]
        if dry_run:
            report(f"would remove {label} ({_megabytes(candidate.size)})")
            continue
        try:
            client.images.remove(candidate.image_id, force=True)
        except docker.errors.APIError as exc:  # taken into use meanwhile, or already gone
            report(f"kept {label}: {exc.explanation or exc}")
            continue
        report(f"removed {label} ({_megabytes(candidate.size)})")
    if not dry_run and not only:
        # Untagged leftovers of builds (a rebuilt tag's previous image): unused ones only.
        reclaimed = client.images.prune(filters={"dangling": True}).get("SpaceReclaimed") or 0
        if reclaimed:
            report(f"removed untagged build leftovers ({_megabytes(int(reclaimed))})")
    return verdict


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


__all__ = [
    "Candidate",
    "Verdict",
    "candidates",
    "choose",
    "is_ours",
    "name_of",
    "prune",
    "repository_of",
]
