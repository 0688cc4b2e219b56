"""What Argo CD applies renders: every environment's values with the chart version that
environment pins (infra/environments/<env>/chart.yaml), found in this repository's history by
its digest — so a values change for prod that only a newer, unpromoted chart understands fails
here, not in the cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from unifyops_core.naming import ENVIRONMENTS
from uo.charts import read_pin
from uo.pinned_chart import PinnedCharts
from uo.render import render_target, targets

ROOT = Path(os.environ.get("UO_REPO_ROOT") or Path.cwd())


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_renders_with_the_chart_it_pins(environment: str) -> None:
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True
    )
    assert shallow.stdout.strip() == "false", "needs the full history (a complete clone)"
    with PinnedCharts(ROOT) as charts:
        chart = charts.chart_for(ROOT, environment)
        assert chart.version == read_pin(ROOT, environment).version
        stacks = targets(ROOT, [environment])
        assert len(stacks) >= 3
        for target in stacks:
            objects = render_target(ROOT, target, chart_dir=chart.path)
            deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
            assert {f"{target.stack}-api", f"{target.stack}-service"} <= deployments, (
                f"{target.environment}/{target.stack} with {chart.describe()}: {deployments}"
            )
