"""infra/ records real releases: every image an environment pins is a tag that is a commit of
this repository (so `uo up --env` can build it again, uo.local.rebuild) and a registry digest."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from unifyops_core.naming import ENVIRONMENTS
from uo.local.rebuild import images_in, is_commit

ROOT = Path(os.environ.get("UO_REPO_ROOT") or Path.cwd())
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_recorded_image_is_a_commit_of_this_repository_and_a_digest(
    environment: str,
) -> None:
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True
    )
    assert shallow.stdout.strip() == "false", "needs the full history (a complete clone)"
    found = 0
    for path in sorted((ROOT / "infra/environments" / environment).glob("*.yaml")):
        if path.name == "chart.yaml":
            continue  # the chart's pin: a version and a digest (tests/infra/chart_pin_test.py)
        for image in images_in(YAML(typ="safe").load(path.read_text())):
            found += 1
            where = f"{path.relative_to(ROOT)}: {image}"
            assert is_commit(ROOT, str(image.get("tag", ""))), f"{where}: tag is no commit here"
            assert DIGEST.match(str(image.get("digest", ""))), f"{where}: no digest recorded"
    assert found >= 9, f"{environment}: {found} images recorded"
