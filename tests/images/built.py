"""The images Pants built for this test run, read from the docker-info files it left beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuiltImage:
    repository: str  # e.g. unifyops/user-service (without the registry)
    reference: str  # what to run: registry/repository:tag
    image_id: str


def built_images(root: Path | None = None) -> dict[str, BuiltImage]:
    images = {}
    for info_file in sorted((root or Path.cwd()).rglob("*.docker-info.json")):
        info = json.loads(info_file.read_text())
        registry = info["registries"][0]
        reference = registry["tags"][0]["name"]
        repository = registry["repository"]
        images[repository] = BuiltImage(repository, reference, info["image_id"])
    return images
