"""The GitHub Actions release workflow (GitHub itself cannot run here): its shape, and that every
`./uo` command it runs exists with the options it passes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from uo.cli import build_parser

WORKFLOW = Path.cwd() / ".github/workflows/release.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def test_plan_then_build_matrix_then_one_gitops_job(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    assert list(jobs) == ["plan", "build", "gitops"]
    assert jobs["build"]["needs"] == "plan"
    assert jobs["build"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["gitops"]["needs"] == ["plan", "build"]
    assert "strategy" not in jobs["gitops"], "the bump runs once for all images"


def test_only_pushes_to_main_release(workflow: dict[Any, Any]) -> None:
    triggers = workflow[True]  # YAML reads the key `on` as a boolean
    assert triggers["push"]["branches"] == ["main"]
    for job in ("build", "gitops"):
        assert "github.event_name == 'push'" in workflow["jobs"][job]["if"]
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["gitops"]["permissions"] == {"contents": "write"}


def uo_invocations(workflow: dict[Any, Any]) -> list[list[str]]:
    commands = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                # GitHub expressions and shell variables stand for one ordinary word each.
                concrete = re.sub(r"\$\{\{[^}]*\}\}", "x", line).replace("$SINCE", "HEAD~1")
                for match in re.finditer(r"\./uo ([^)\n;|&]+)", concrete):
                    commands.append(shlex.split(match.group(1)))
    return commands


def test_every_uo_command_exists_with_its_options(workflow: dict[Any, Any]) -> None:
    invocations = uo_invocations(workflow)
    assert {argv[0] for argv in invocations} == {
        "check-core",
        "matrix",
        "affected",
        "publish",
        "bump",
    }
    parser = build_parser()
    for argv in invocations:
        parser.parse_args(argv)  # exits (fails the test) on an unknown command or option


def test_referenced_scripts_exist(workflow: dict[Any, Any]) -> None:
    text = WORKFLOW.read_text()
    for script in set(re.findall(r"(build-support/[\w./-]+)", text)):
        assert (Path.cwd() / script).is_file(), script


def test_the_gitops_job_records_the_bump_with_the_deployer_credential(
    workflow: dict[Any, Any],
) -> None:
    [step] = [s for s in workflow["jobs"]["gitops"]["steps"] if "./uo bump" in str(s.get("run"))]
    assert '--record "$UO_RECORD_URL"' in step["run"]
    assert step["env"]["UO_RECORD_URL"] == "${{ secrets.UO_RECORD_URL }}"
    # The password is a secret, never a plain variable.
    assert step["env"]["UO_DEPLOYER_PASSWORD"] == "${{ secrets.UO_DEPLOYER_PASSWORD }}"
