"""What was published: for every image Pants built (its docker-info files), the digest the registry
holds for its tag and the labels it carries, written as one machine-readable manifest."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from uo.errors import ImageKindError, RegistryError
from uo.registry import Registry
from uo.units import STACK_LABEL, TIER_LABEL, unit_for_repository


@dataclass(frozen=True)
class PublishedImage:
    registry: str
    repository: str
    tag: str
    digest: str
    stack: str | None
    tier: str | None
    core_version: str | None
    revision: str | None

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


def info_file(dist: Path, address: str) -> Path:
    """Where Pants writes the docker-info file of a docker_image target."""
    path, _, name = address.partition(":")
    return dist / path.replace("/", ".") / f"{name}.docker-info.json"


def built_tags(dist: Path, addresses: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(registry, repository, tag) of the images in Pants' docker-info files under ``dist``
    (only those of ``addresses`` when given)."""
    found = []
    files = (
        [info_file(dist, a) for a in addresses]
        if addresses
        else sorted(dist.rglob("*.docker-info.json"))
    )
    for info_file_path in files:
        try:
            info = json.loads(info_file_path.read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{info_file_path}: no docker-info file of a built image") from exc
        for registry in info.get("registries", []):
            for tag in registry["tags"]:
                found.append((registry["address"], registry["repository"], tag["tag"]))
    return found


def published_tags(publish_output: Path) -> list[tuple[str, str, str]]:
    """(registry, repository, tag) of what `pants publish --publish-output=FILE` pushed."""
    found = []
    try:
        entries = json.loads(publish_output.read_text())
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{publish_output}: not a Pants publish report ({exc})") from exc
    for entry in entries:
        if entry.get("publisher") != "docker" or not entry.get("published"):
            continue
        for name in entry["names"]:
            location, _, tag = name.rpartition(":")
            registry, _, repository = location.partition("/")
            found.append((registry, repository, tag))
    return found


def write_manifest(tags: list[tuple[str, str, str]], output: Path) -> list[PublishedImage]:
    if not tags:
        raise RegistryError("no published images to record")
    registries: dict[str, Registry] = {}
    try:
        images = []
        for address, repository, tag in tags:
            registry = registries.setdefault(address, Registry(address))
            images.append(inspect(registry, repository, tag))
    finally:
        for registry in registries.values():
            registry.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"images": [asdict(image) for image in images]}, indent=2) + "\n")
    return images


def inspect(registry: Registry, repository: str, tag: str) -> PublishedImage:
    """What the registry holds for a tag: its manifest digest (read back over the registry API,
    authenticated, never taken from push output) and the labels of its image."""
    manifest = registry.manifest(repository, tag)
    if manifest is None:
        raise RegistryError(
            f"{registry.reference(repository)}:{tag} is not in the registry (publish it first)"
        )
    try:
        config = registry.config(repository, manifest)
    except ValueError as exc:
        raise RegistryError(
            f"registry {registry.address}: unexpected answer for {repository}:{tag}"
        ) from exc
    labels = (config.get("config") or {}).get("Labels") or {}
    stack, tier = labels.get(STACK_LABEL), labels.get(TIER_LABEL)
    if not (stack and tier):  # an image built before it carried the labels: the contract says
        try:
            stack, tier = unit_for_repository(repository)
        except ImageKindError:
            stack, tier = None, None
    return PublishedImage(
        registry=registry.address,
        repository=repository,
        tag=tag,
        digest=manifest.digest,
        stack=stack,
        tier=tier,
        core_version=labels.get("io.unifyops.core-version"),
        revision=labels.get("org.opencontainers.image.revision"),
    )


def record(dist: Path, output: Path, addresses: list[str] | None = None) -> list[PublishedImage]:
    tags = built_tags(dist, addresses)
    if not tags:
        raise RegistryError(f"no built images under {dist} (run ./pants package or publish first)")
    return write_manifest(tags, output)


__all__ = [
    "PublishedImage",
    "RegistryError",
    "built_tags",
    "info_file",
    "inspect",
    "published_tags",
    "record",
    "write_manifest",
]
