"""Pushing built images to a registry, with SHA tags immutable.

Pants builds and tags the images (`pants package`; its docker-info files name the local tags);
uo pushes them with the Docker SDK, so the target registry is configuration (uo.registry) and
the push authenticates with the same account uo reads digests with.

A tag that is a commit SHA names exactly one image forever: before anything is pushed, every such
tag the registry already holds is compared with the image about to be pushed, by image ID (the
config digest, which is the image's content; the manifest digest also depends on how layers were
compressed). The same image: nothing to push. Another image: the whole publish is refused and
nothing is pushed, because moving it would silently change what every infra file pinning that
commit's tag means. Rebuilding a commit gives the same image ID because every image is first
made reproducible (uo.reproducible: build times and file times out of the image), so a re-run of
a release finds its images already there instead of being refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uo.errors import RegistryError
from uo.images import info_file
from uo.registry import Registry
from uo.reproducible import reproduce

SHA_TAG = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class BuiltImage:
    local: str  # the engine's name for it, as Pants tagged it: registry/repository:tag
    repository: str
    tag: str


@dataclass(frozen=True)
class Plan:
    push: list[tuple[BuiltImage, str]]  # (image, its image ID)
    unchanged: list[BuiltImage]  # already in the registry under this tag


def built_images(dist: Path, addresses: list[str]) -> list[BuiltImage]:
    """The images `pants package` built for ``addresses``, from their docker-info files."""
    found = []
    for address in addresses:
        path = info_file(dist, address)
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path}: no docker-info file of a built image") from exc
        for registry in info.get("registries", []):
            for tag in registry["tags"]:
                found.append(BuiltImage(tag["name"], registry["repository"], tag["tag"]))
    return found


def plan(engine: Any, registry: Registry, images: list[BuiltImage]) -> Plan:
    """What to push; raises (before anything is pushed) if a SHA tag would move.

    Each image is made reproducible first, so its ID is what any build of its commit gives."""
    push, unchanged, moved = [], [], []
    for image in images:
        image_id = reproduce(engine, image.local)
        held = registry.manifest(image.repository, image.tag)
        if held is None:
            push.append((image, image_id))
        elif held.config_digest == image_id:
            unchanged.append(image)
        elif SHA_TAG.match(image.tag):
            moved.append(
                f"{registry.reference(image.repository)}:{image.tag} is {held.digest} "
                f"(image {held.config_digest}), not image {image_id}"
            )
        else:
            push.append((image, image_id))  # a moving tag (e.g. latest) may move
    if moved:
        raise RegistryError(
            "refusing to move SHA tags to different images (they are immutable; rebuild from "
            "a new commit); nothing was pushed",
            detail="\n".join(moved),
        )
    return Plan(push, unchanged)


def push(engine: Any, registry: Registry, image: BuiltImage, image_id: str) -> None:
    target = registry.reference(image.repository)
    engine.images.get(image_id).tag(target, image.tag)
    auth = registry.credentials.auth_config() if registry.credentials else None
    for line in engine.images.push(target, image.tag, stream=True, decode=True, auth_config=auth):
        if "error" in line:
            raise RegistryError(f"pushing {target}:{image.tag} failed: {line['error']}")


def publish(engine: Any, registry: Registry, images: list[BuiltImage]) -> Plan:
    """Push what the registry lacks (all or nothing as far as the immutability check goes)."""
    decided = plan(engine, registry, images)
    for image, image_id in decided.push:
        push(engine, registry, image, image_id)
    return decided


__all__ = ["SHA_TAG", "BuiltImage", "Plan", "built_images", "plan", "publish", "push"]
