"""The chart's values for an environment on this machine, and the rendered objects.

- ``dev``, ``staging``, ``prod``: what infra/environments/<env> records (env.yaml, then the
  stack's file), images pulled from the local registry;
- ``local`` and ``test``: dev's stack files without their images, and the images given (the
  working tree's build, or the tests' own).

Then, for both, infra/local/values.yaml — the only place that says what differs on one machine
— and the values only a run here can know: the environment name, the images' tags on the
engine and where infra/ is checked out (the environment service reads it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uo.render import Manifest, deep_merge, load_values, render_values
from uo.repo import ENVIRONMENTS_PATH

OVERLAY = "infra/local/values.yaml"
TEMPLATE_ENVIRONMENT = "dev"
RECORDED = ("dev", "staging", "prod")


def _without_images(values: dict[str, Any]) -> dict[str, Any]:
    trimmed = copy.deepcopy(values)
    for tier in (trimmed.get("tiers") or {}).values():
        tier.pop("image", None)
    internal = (trimmed.get("database") or {}).get("internal") or {}
    internal.pop("image", None)
    return trimmed


def stack_values(
    repo: Path,
    environment: str,
    stack: str,
    *,
    image_tags: Mapping[str, str] | None,
    registry: str,
) -> dict[str, Any]:
    """Values of one stack. ``image_tags`` (tier or ``database`` -> tag of an image on the
    engine) for ``local``/``test``; None for a recorded environment."""
    folder = repo / ENVIRONMENTS_PATH
    if image_tags is None:
        values = load_values([folder / environment / "env.yaml", folder / environment / f"{stack}.yaml"])
        values = deep_merge(values, load_values([repo / OVERLAY]))
        values = deep_merge(values, {"image": {"registry": registry}})
    else:
        values = _without_images(load_values([folder / TEMPLATE_ENVIRONMENT / f"{stack}.yaml"]))
        values = deep_merge(values, load_values([repo / OVERLAY]))
        tiers = {t: {"image": {"tag": tag}} for t, tag in image_tags.items() if t != "database"}
        values = deep_merge(values, {"tiers": tiers, "image": {"registry": ""}})
        values = deep_merge(
            values, {"database": {"internal": {"image": {"tag": image_tags["database"]}}}}
        )
        for tier in ("app",):
            if tier not in image_tags:
                values = deep_merge(values, {"tiers": {tier: {"enabled": False}}})
    return deep_merge(
        values,
        {
            "stack": stack,
            "environment": environment,
            "namespace": namespace(environment),
            "desiredState": {"hostPath": str((repo / "infra").resolve())},
        },
    )


def namespace(environment: str) -> str:
    return f"uo-{environment}"


def render_stack(repo: Path, environment: str, stack: str, values: dict[str, Any]) -> list[Manifest]:
    return render_values(repo, values, release=stack, namespace=namespace(environment))


def ingress_controller(values: Mapping[str, Any]) -> Mapping[str, Any]:
    controller: Mapping[str, Any] = (values.get("networkPolicy") or {}).get("ingressController") or {}
    return controller


__all__ = ["OVERLAY", "RECORDED", "ingress_controller", "namespace", "render_stack", "stack_values"]
