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
                for match in re.finditer(r"\./uo ([^)\n;|&>]+)", concrete):
                    commands.append(shlex.split(match.group(1)))
    return commands


def test_every_uo_command_exists_with_its_options(workflow: dict[Any, Any]) -> None:
    invocations = uo_invocations(workflow)
    assert {argv[0] for argv in invocations} == {
        "check-core",
        "diff",
        "matrix",
        "affected",
        "publish",
        "bump",
        "chart",
    }
    parser = build_parser()
    for argv in invocations:
        parser.parse_args(argv)  # exits (fails the test) on an unknown command or option


def test_referenced_scripts_exist(workflow: dict[Any, Any]) -> None:
    text = WORKFLOW.read_text()
    # Scripts (with a suffix), not the npm prefixes (directories) npm ci is pointed at.
    for script in set(re.findall(r"(build-support/[\w./-]+\.\w+)", text)):
        assert (Path.cwd() / script).is_file(), script


def test_the_gitops_job_records_the_bump_with_the_deployer_credential(
    workflow: dict[Any, Any],
) -> None:
    [step] = [s for s in workflow["jobs"]["gitops"]["steps"] if "./uo bump" in str(s.get("run"))]
    assert '--record "$UO_RECORD_URL"' in step["run"]
    assert step["env"]["UO_RECORD_URL"] == "${{ secrets.UO_RECORD_URL }}"
    # The password is a secret, never a plain variable.
    assert step["env"]["UO_DEPLOYER_PASSWORD"] == "${{ secrets.UO_DEPLOYER_PASSWORD }}"


def _step(workflow: dict[Any, Any], job: str, command: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    [step] = [s for s in steps if command in str(s.get("run"))]
    return step


def test_images_go_to_the_environment_registry_with_the_secrets_account(
    workflow: dict[Any, Any],
) -> None:
    publish = _step(workflow, "build", "./uo publish")
    assert "--env dev" in publish["run"], "never the throwaway runner's own registry"
    # bump moves dev-latest in that registry, so it logs in too.
    for step in (publish, _step(workflow, "gitops", "./uo bump")):
        for variable in ("UO_REGISTRY_USERNAME", "UO_REGISTRY_PASSWORD"):
            assert step["env"][variable] == "${{ secrets." + variable + " }}"


def test_every_job_sets_up_the_interpreters_and_caches(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        uses = {str(s.get("uses", "")).split("@")[0]: s for s in job["steps"]}
        assert uses["actions/setup-python"]["with"]["python-version"].split() == ["3.9", "3.11"]
        assert "~/.cache/pants/named_caches" in uses["actions/cache"]["with"]["path"], name


def test_every_action_has_a_stand_in_in_the_local_runner(workflow: dict[Any, Any]) -> None:
    from release.workflow_actions import ACTIONS

    used = {
        str(step["uses"]).split("@")[0]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "uses" in step
    }
    assert used <= set(ACTIONS), used - set(ACTIONS)


def test_a_failing_script_is_never_hidden_inside_echo(workflow: dict[Any, Any]) -> None:
    # `echo "X=$(script)"` exits with echo's status, so bash -e would go on after a failed
    # script; scripts run in an assignment first (`x="$(script)"`), which does fail the step.
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                assert not re.search(r'echo "\w+=\$\((?!echo )', line), line


def test_a_changed_chart_is_published_and_pinned_in_dev(workflow: dict[Any, Any]) -> None:
    plan = workflow["jobs"]["plan"]
    assert plan["outputs"]["chart"] == "${{ steps.matrix.outputs.chart }}"
    assert 'git diff --name-only "$SINCE" HEAD -- src/charts/unifyops-stack' in str(
        _step(workflow, "plan", "./uo matrix")["run"]
    )
    chart = _step(workflow, "gitops", "./uo chart publish")
    assert chart["if"] == "needs.plan.outputs.chart == 'true'"
    assert chart["run"].split("\n")[:2] == [
        "./uo chart publish --env dev",
        "./uo chart bump --env dev --push",
    ]
    assert chart["env"]["UO_REGISTRY_PASSWORD"] == "${{ secrets.UO_REGISTRY_PASSWORD }}"
    # A chart-only change builds no image: gitops runs after a skipped build job too.
    condition = workflow["jobs"]["gitops"]["if"]
    assert "!cancelled()" in condition
    assert "needs.build.result == 'skipped'" in condition
    assert "needs.plan.outputs.chart == 'true'" in condition
