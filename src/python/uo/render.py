"""Render the chart for an (environment, stack) exactly as Argo CD would: the chart plus the
environment's env.yaml and the stack's file, in that order, released as <stack> in uo-<env>
(which chart an environment runs: uo.pinned_chart).

Uses the real Helm template engine (helm-python-sdk bundles Helm's Go SDK); no helm CLI needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helm_python import Chart, HelmError

from unifyops_core.naming import IMAGE_TIERS, STACKS, namespace
from uo.errors import RenderError
from uo.repo import CHART_PATH, ENVIRONMENTS_PATH

Manifest = dict[str, Any]
# What a stack's tiers render with before its first release, where a caller asks for that (the
# image plays no part in what it reads: Secrets for `uo seal`, the objects the chart tests check).
UNRELEASED_TAG = "unreleased"


@dataclass(frozen=True)
class Target:
    environment: str
    stack: str

    @property
    def namespace(self) -> str:
        return namespace(self.environment)

    def value_files(self, repo: Path) -> list[Path]:
        folder = repo / ENVIRONMENTS_PATH / self.environment
        return [folder / "env.yaml", folder / f"{self.stack}.yaml"]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of value files: maps merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_values(files: list[Path]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for file in files:
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RenderError(f"{file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise RenderError(f"{file}: a values file must be a mapping")
        values = deep_merge(values, loaded)
    return values


def render_values(
    repo: Path,
    values: Mapping[str, Any],
    *,
    release: str,
    namespace: str,
    chart_dir: Path | None = None,
) -> list[Manifest]:
    """Render the chart (``repo``'s, or the one in ``chart_dir``) with explicit values; returns
    the objects in template order."""
    chart = Chart.load(chart_dir or repo / CHART_PATH)
    try:
        chart.validate_schema(dict(values))
        rendered = chart.render(dict(values), name=release, namespace=namespace, is_install=True)
    except HelmError as exc:
        raise RenderError(str(exc)) from exc
    finally:
        chart.close()
    objects: list[Manifest] = []
    for template in sorted(rendered):
        if not template.endswith((".yaml", ".yml")):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(rendered[template]) if doc)
    return objects


def released(values: Mapping[str, Any]) -> bool:
    """Whether any tier names an image: a stack `uo new stack` wrote names none until the release
    loop records its images, and the chart refuses it until then."""
    tiers = values.get("tiers") or {}
    return any(
        (tier.get("image") or {}).get("tag") or (tier.get("image") or {}).get("digest")
        for tier in tiers.values()
        if isinstance(tier, Mapping)
    )


def render_target(
    repo: Path, target: Target, *, before_release: bool = False, chart_dir: Path | None = None
) -> list[Manifest]:
    """The target's objects, rendered with ``chart_dir`` (default: ``repo``'s own chart; what an
    environment pins is uo.pinned_chart's); ``before_release``: a stack not released yet renders
    with the tag ``UNRELEASED_TAG`` instead of being refused (never for deploying)."""
    values = load_values(target.value_files(repo))
    if before_release and not released(values):
        unreleased = {tier: {"image": {"tag": UNRELEASED_TAG}} for tier in IMAGE_TIERS}
        values = deep_merge(values, {"tiers": unreleased})
    return render_values(
        repo, values, release=target.stack, namespace=target.namespace, chart_dir=chart_dir
    )


def targets(
    repo: Path, environments: list[str] | None = None, stacks: list[str] | None = None
) -> list[Target]:
    """Every (environment, stack) that has a file in infra/, optionally narrowed."""
    found = []
    for env_dir in sorted((repo / ENVIRONMENTS_PATH).iterdir()):
        if not env_dir.is_dir() or (environments and env_dir.name not in environments):
            continue
        for file in sorted(env_dir.glob("*.yaml")):
            if file.stem in STACKS and (not stacks or file.stem in stacks):
                found.append(Target(env_dir.name, file.stem))
    return found


__all__ = [
    "UNRELEASED_TAG",
    "Manifest",
    "RenderError",
    "Target",
    "deep_merge",
    "load_values",
    "released",
    "render_target",
    "render_values",
    "targets",
]
