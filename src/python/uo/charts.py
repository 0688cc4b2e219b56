"""Releasing the chart: packaged by the Helm engine, pushed to a registry as an OCI artifact
tagged with its version, and pinned per environment in infra/environments/<env>/chart.yaml.

Packaging is reproducible: Helm writes file modes, owners, order and the gzip header
deterministically but takes each file's mtime from the disk, so the chart is packaged from a copy
whose mtimes are one fixed instant. The same chart sources then give the same archive, the same
OCI manifest (config = Chart.yaml as JSON, one layer = the archive, no timestamp annotation) and
so the same digest, on any checkout.

A chart version names one chart forever, like an image's SHA tag: publishing a version the
registry already holds with other contents is refused (bump ``version`` in Chart.yaml instead).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from uo.errors import InfraError, RegistryError
from uo.registry import Manifest, Registry
from uo.repo import CHART_PATH, ENVIRONMENTS_PATH

CHARTS_NAMESPACE = "charts"  # charts live at <registry>/charts/<name>, apart from the images
CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z, what reproducible zip/wheel builds use
PIN_FILE = "chart.yaml"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _sha256(data), "size": len(data)}


@dataclass(frozen=True)
class Package:
    """A packaged chart and the OCI artifact it becomes."""

    name: str
    version: str
    archive: bytes  # the .tgz Helm wrote
    config: bytes  # Chart.yaml as JSON

    @property
    def repository(self) -> str:
        return f"{CHARTS_NAMESPACE}/{self.name}"

    @property
    def manifest(self) -> bytes:
        body = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": _descriptor(CONFIG_MEDIA_TYPE, self.config),
            "layers": [_descriptor(LAYER_MEDIA_TYPE, self.archive)],
            "annotations": {
                "org.opencontainers.image.title": self.name,
                "org.opencontainers.image.version": self.version,
            },
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        """The manifest digest: what ``<registry>/charts/<name>@<digest>`` names."""
        return _sha256(self.manifest)

    @property
    def archive_digest(self) -> str:
        return _sha256(self.archive)


def package(chart_dir: Path) -> Package:
    """Package ``chart_dir`` with the Helm engine, reproducibly (see the module docstring)."""
    import helm_python as helm

    with tempfile.TemporaryDirectory(prefix="uo-chart-") as scratch:
        copy = Path(scratch) / "src" / chart_dir.name
        shutil.copytree(chart_dir, copy)
        for path in [copy, *copy.rglob("*")]:
            os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
        try:
            with helm.Chart.load(copy) as chart:
                metadata = chart.metadata
            archive = Path(helm.package(copy, destination=Path(scratch) / "out"))
        except helm.HelmError as exc:
            raise InfraError(f"{chart_dir}: Helm cannot package the chart ({exc})") from exc
        data = archive.read_bytes()
    config = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    return Package(str(metadata["name"]), str(metadata["version"]), data, config)


def repo_chart(repo: Path) -> Package:
    return package(repo / CHART_PATH)


@dataclass(frozen=True)
class Published:
    reference: str  # <registry>/charts/<name>:<version>
    digest: str
    pushed: bool  # False: the registry already held this very chart under the version


def is_chart(manifest: Manifest, chart: Package) -> bool:
    """Whether a registry's manifest holds exactly ``chart``'s archive as its one layer."""
    try:
        layers = [layer["digest"] for layer in json.loads(manifest.body)["layers"]]
    except (ValueError, KeyError, TypeError):
        return False
    return layers == [chart.archive_digest]


def publish(registry: Registry, chart: Package) -> Published:
    """Push ``chart`` under its version unless the registry holds it already; refuse to move a
    version to other contents (compared by the chart archive, so a copy pushed by `helm push`,
    whose manifest carries a creation time, counts as the same chart)."""
    reference = f"{registry.reference(chart.repository)}:{chart.version}"
    held = registry.manifest(chart.repository, chart.version)
    if held is not None:
        if is_chart(held, chart):
            return Published(reference, held.digest, pushed=False)
        raise RegistryError(
            f"refusing to move chart version {reference} to other contents (a version is "
            "immutable; raise `version` in Chart.yaml); nothing was pushed",
            detail=f"{reference} is {held.digest}, this chart packages to {chart.digest}",
        )
    registry.upload_blob(chart.repository, _sha256(chart.config), chart.config)
    registry.upload_blob(chart.repository, chart.archive_digest, chart.archive)
    registry.put_manifest(chart.repository, chart.version, chart.manifest, MANIFEST_MEDIA_TYPE)
    # Read back: the digest recorded anywhere is the one the registry serves.
    stored = registry.manifest(chart.repository, chart.version)
    if stored is None:
        raise RegistryError(f"{reference} is missing right after it was pushed")
    return Published(reference, stored.digest, pushed=True)


# --- the per-environment pin -----------------------------------------------------------------


@dataclass(frozen=True)
class ChartPin:
    """What infra/environments/<env>/chart.yaml records: the chart an environment runs."""

    repository: str  # <the environment's registry>/charts, as Argo CD's repoURL takes it
    name: str
    version: str
    digest: str | None

    def as_dict(self) -> dict[str, str]:
        pin = {"repository": self.repository, "name": self.name, "version": self.version}
        return pin | ({"digest": self.digest} if self.digest else {})


def pin_path(repo: Path, environment: str) -> Path:
    return repo / ENVIRONMENTS_PATH / environment / PIN_FILE


def read_pin(repo: Path, environment: str) -> ChartPin:
    path = pin_path(repo, environment)
    try:
        chart = (yaml.safe_load(path.read_text()) or {})["chart"]
        return ChartPin(
            str(chart["repository"]),
            str(chart["name"]),
            str(chart["version"]),
            str(chart["digest"]) if chart.get("digest") else None,
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InfraError(f"{path.relative_to(repo)}: no chart pin ({exc})") from exc


def chart_repository(repo: Path, environment: str) -> str:
    """Where an environment's cluster pulls charts from: its env.yaml's ``image.registry`` (never
    $UO_REGISTRY, a stand-in only this machine reaches) plus /charts."""
    path = repo / ENVIRONMENTS_PATH / environment / "env.yaml"
    try:
        registry = (yaml.safe_load(path.read_text()) or {})["image"]["registry"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InfraError(f"{path.relative_to(repo)}: no image.registry ({exc})") from exc
    return f"{registry}/{CHARTS_NAMESPACE}"


def write_pin(repo: Path, environment: str, pin: ChartPin) -> bool:
    """Set the version and digest of chart.yaml (comments and order kept); True if it changed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    path = pin_path(repo, environment)
    rt = YAML()
    rt.width = 120
    document = rt.load(path.read_text()) if path.is_file() else CommentedMap()
    chart = document.setdefault("chart", CommentedMap())
    changed = False
    for key, value in pin.as_dict().items():
        if chart.get(key) != value:
            chart[key] = value
            changed = True
    if not pin.digest and "digest" in chart:
        del chart["digest"]
        changed = True
    if changed:
        buffer = io.StringIO()
        rt.dump(document, buffer)
        path.write_text(buffer.getvalue())
    return changed


__all__ = [
    "CHARTS_NAMESPACE",
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "ChartPin",
    "Package",
    "Published",
    "chart_repository",
    "is_chart",
    "package",
    "pin_path",
    "publish",
    "read_pin",
    "repo_chart",
    "write_pin",
]
