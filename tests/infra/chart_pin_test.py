"""Each environment pins the released chart it runs (infra/environments/<env>/chart.yaml, what the
ApplicationSet pulls): from its own registry, never a version this checkout's chart has not
reached, and, where it pins this checkout's version, exactly the contents this chart packages to
(packaging is reproducible, so the digest is computed here without a registry)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from unifyops_core.naming import ENVIRONMENTS
from uo.charts import CHARTS_NAMESPACE, read_pin, repo_chart

ROOT = Path.cwd()
CHART = repo_chart(ROOT)
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


def release(version: str) -> tuple[int, ...]:
    match = SEMVER.match(version)
    assert match, f"{version!r} is not a semantic version (Helm requires one)"
    return tuple(int(part) for part in match.groups())


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_pin_names_the_environments_registry_and_this_chart(environment: str) -> None:
    pin = read_pin(ROOT, environment)
    env = yaml.safe_load((ROOT / f"infra/environments/{environment}/env.yaml").read_text())
    assert pin.repository == f"{env['image']['registry']}/{CHARTS_NAMESPACE}"
    assert pin.name == CHART.name
    assert release(pin.version) <= release(CHART.version), (
        f"{environment} pins chart {pin.version}, newer than Chart.yaml's {CHART.version}"
    )
    assert pin.digest
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", pin.digest)


def test_a_pin_of_this_version_is_this_charts_contents() -> None:
    # Older versions' contents are in the registry, not in this checkout; dev always pins this one.
    pins = [read_pin(ROOT, environment) for environment in ENVIRONMENTS]
    current = [pin for pin in pins if pin.version == CHART.version]
    assert current
    for pin in current:
        assert pin.digest == CHART.digest, (
            f"{pin.name} {pin.version} is pinned as {pin.digest}, but this checkout's chart "
            f"packages to {CHART.digest}: the chart changed without raising `version` in "
            "Chart.yaml (a version names one chart forever), or the pin is stale"
        )


def test_dev_runs_the_chart_of_main() -> None:
    # dev deploys every merge, so it runs the chart main holds; staging and prod follow by
    # promotion (uo promote carries the pin).
    assert read_pin(ROOT, "dev").version == CHART.version
