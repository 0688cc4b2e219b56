"""Rendering helpers for the chart tests: every (environment, stack) from infra/, rendered once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uo.render import Manifest, Target, load_values, render_target, render_values, targets

REPO = Path.cwd()  # Pants runs tests at the root of a sandbox holding the chart and infra files
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

ALL_TARGETS = targets(REPO)
_RENDERED: dict[Target, list[Manifest]] = {}


def rendered(target: Target) -> list[Manifest]:
    if target not in _RENDERED:
        # A stack `uo new stack` wrote is checked before its first release too.
        _RENDERED[target] = render_target(REPO, target, before_release=True)
    return _RENDERED[target]


def all_objects() -> list[tuple[Target, Manifest]]:
    return [(target, obj) for target in ALL_TARGETS for obj in rendered(target)]


def workloads() -> list[tuple[Target, Manifest]]:
    return [(t, obj) for t, obj in all_objects() if obj["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def workload_id(item: tuple[Target, Manifest]) -> str:
    target, obj = item
    return f"{target.environment}/{obj['kind']}/{obj['metadata']['name']}"


def base_values(environment: str = "dev", stack: str = "auth") -> dict[str, Any]:
    return load_values(Target(environment, stack).value_files(REPO))


RenderWith = Callable[[Callable[[dict[str, Any]], None]], list[Manifest]]


@pytest.fixture
def render_with() -> RenderWith:
    """Render dev/auth after ``edit`` changed a copy of its values."""

    def render(edit: Callable[[dict[str, Any]], None]) -> list[Manifest]:
        values = copy.deepcopy(base_values())
        edit(values)
        return render_values(REPO, values, release="auth", namespace="uo-dev")

    return render
