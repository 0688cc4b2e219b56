"""The chart rendered for environment ``test`` as `uo up` renders it, for the unit tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from unifyops_core.naming import STACKS
from uo.local import manifests, values, wiring
from uo.render import Manifest

REPO = Path.cwd()  # Pants runs tests at the root of a sandbox holding the chart and infra files
TAGS = {"database": "id-db", "service": "id-service", "api": "id-api", "app": "id-app"}


@cache
def rendered() -> tuple[list[Manifest], dict[str, Any]]:
    objects: list[Manifest] = []
    first: dict[str, Any] = {}
    for stack in STACKS:
        stack_values = values.stack_values(REPO, "test", stack, image_tags=TAGS, registry="")
        objects += values.render_stack(REPO, "test", stack, stack_values)
        first = first or stack_values
    return objects, first


def topology() -> wiring.Topology:
    objects, first = rendered()
    return wiring.topology(
        "test",
        "uo-test",
        manifests.workloads(objects),
        manifests.services(objects),
        [o for o in objects if o["kind"] == "NetworkPolicy"],
        manifests.routes(objects),
        values.ingress_controller(first),
    )
