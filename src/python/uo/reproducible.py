"""Images that are the same bytes whenever the same commit is built.

The engine's classic builder stamps every image with the moment it ran: the config's `created`
and each history entry's, the build container's id (`container`, `container_config`), the id of
the intermediate image the last step ran on (`config.Image`), the engine's version, and the
modification time of every file a build step wrote or copied (Pants materialises the build
context afresh). `reproduce(engine, reference)` rewrites a built image without any of them —
file times clamped to EPOCH, config written canonically — loads the result and moves the
image's tags to it.

What is left is content, and that is already deterministic: the pex files are byte-identical
builds, the RUN steps compile byte code hash-based (SOURCE_DATE_EPOCH in their environment, so
no .pyc records a file time), and the base images come from mmdebstrap with SOURCE_DATE_EPOCH
and locked package versions. So the image ID (the config digest, and with it the manifest
digest a registry gives) depends on the commit alone, and `uo publish` can tell a rebuild of a
commit (same ID: nothing to push) from a different image under its SHA tag (refused).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

# The SOURCE_DATE_EPOCH of every build (build-support/images/base-images.sh and the image
# macros use the same): no file in an image is newer.
EPOCH = 1_700_000_000
EPOCH_ISO = datetime.fromtimestamp(EPOCH, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
# pax records that carry times (the classic builder writes none, other tools may).
_TIME_RECORDS = ("mtime", "atime", "ctime")


def reproduce(engine: Any, reference: str) -> str:
    """Replace the engine's image ``reference`` (and every tag on it) by its reproducible form;
    returns the new image ID (the same one for every build of the same inputs)."""
    image = engine.images.get(reference)
    with tempfile.TemporaryDirectory(prefix="uo-reproducible-") as work:
        saved = Path(work) / "saved.tar"
        with saved.open("wb") as out:
            for chunk in image.save(named=False):
                out.write(chunk)
        archive = Path(work) / "reproducible.tar"
        image_id = rewrite_archive(saved, archive, Path(work))
        if image_id != image.id:
            with archive.open("rb") as data:
                engine.images.load(data)
            loaded = engine.images.get(image_id)
            for tag in image.tags:
                repository, _, name = tag.rpartition(":")
                loaded.tag(repository, name)
    return image_id


def rewrite_archive(saved: Path, out: Path, work: Path) -> str:
    """An engine archive (`docker save` of one image) rewritten reproducibly into ``out``, in
    the same format for `docker load`; returns the image ID it will load as."""
    with tarfile.open(saved) as archive:
        [entry] = json.load(_member(archive, "manifest.json"))
        config = json.load(_member(archive, entry["Config"]))
        layers: list[tuple[str, Path]] = []
        for name in entry["Layers"]:
            layer = work / f"layer-{len(layers)}.tar"
            layers.append((_rewrite_layer(_member(archive, name), layer), layer))
    raw_config = canonical_config(config, [diff_id for diff_id, _ in layers])
    image_id = "sha256:" + hashlib.sha256(raw_config).hexdigest()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as result:
        for diff_id, layer in layers:
            _add_file(result, f"{diff_id.removeprefix('sha256:')}/layer.tar", layer)
        _add_bytes(result, f"{image_id.removeprefix('sha256:')}.json", raw_config)
        manifest = [
            {
                "Config": f"{image_id.removeprefix('sha256:')}.json",
                "RepoTags": None,
                "Layers": [f"{d.removeprefix('sha256:')}/layer.tar" for d, _ in layers],
            }
        ]
        _add_bytes(result, "manifest.json", json.dumps(manifest).encode())
    return image_id


def canonical_config(config: dict[str, Any], diff_ids: list[str]) -> bytes:
    """The image config without what records when and where it was built, as canonical JSON."""
    config = json.loads(json.dumps(config))  # a copy
    config["created"] = EPOCH_ISO
    for step in config.get("history", []):
        step["created"] = EPOCH_ISO
    for key in ("container", "container_config", "docker_version"):
        config.pop(key, None)
    run_config = config.get("config") or {}
    run_config.pop("Image", None)  # the intermediate image of the last step
    run_config.pop("Hostname", None)  # the build container's id
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _rewrite_layer(layer: IO[bytes], out: Path) -> str:
    """A layer with no entry newer than EPOCH, written to ``out``; returns its diff ID.

    A layer that has none already (a base image's) is kept byte for byte, so it stays shared
    with the base image on the engine and in registries. Entry order is kept: the engine writes
    a layer in path order, and a hard link must follow its target.
    """
    with tarfile.open(fileobj=layer) as source:
        members = source.getmembers()
        if not any(_needs_clamping(member) for member in members):
            layer.seek(0)
            with out.open("wb") as copy:
                shutil.copyfileobj(layer, copy, 1 << 20)
            return _diff_id(out)
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as result:
            for member in members:
                clamped = _clamped(member)
                data = source.extractfile(member) if member.isreg() else None
                result.addfile(clamped, data)
    return _diff_id(out)


def _needs_clamping(member: tarfile.TarInfo) -> bool:
    return member.mtime > EPOCH or any(key in member.pax_headers for key in _TIME_RECORDS)


def _clamped(member: tarfile.TarInfo) -> tarfile.TarInfo:
    clamped = member.replace(mtime=min(int(member.mtime), EPOCH), deep=True)
    clamped.pax_headers = {
        key: value for key, value in member.pax_headers.items() if key not in _TIME_RECORDS
    }
    return clamped


def _diff_id(layer: Path) -> str:
    digest = hashlib.sha256()
    with layer.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    data = archive.extractfile(name)
    if data is None:
        raise ValueError(f"{name} is not a file in the image archive")
    return data


def _entry(name: str, size: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size = size
    entry.mtime = EPOCH
    entry.mode = 0o644
    return entry


def _add_file(archive: tarfile.TarFile, name: str, path: Path) -> None:
    with path.open("rb") as data:
        archive.addfile(_entry(name, path.stat().st_size), data)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    archive.addfile(_entry(name, len(data)), io.BytesIO(data))


__all__ = ["EPOCH", "EPOCH_ISO", "canonical_config", "reproduce", "rewrite_archive"]
