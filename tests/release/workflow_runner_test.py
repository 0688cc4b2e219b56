"""The local workflow runner on small inline workflows: what GitHub's runner would do with each."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from release.workflow_expressions import ExpressionError, Lenient, Status, condition, evaluate
from release.workflow_runner import (
    Event,
    RunResult,
    WorkflowError,
    WorkflowRunner,
    expand_matrix,
    parse_commands_file,
    substitute_within,
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository of two commits on main (the stand-in for the GitHub repository)."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@unifyops.invalid")
    git(repo, "config", "user.name", "t")
    for number in (1, 2):
        (repo / "file.txt").write_text(f"version {number}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"commit {number}")
    # Pushes into it land on main like pushes to GitHub do (it has a working tree).
    git(repo, "config", "receive.denyCurrentBranch", "updateInstead")
    return repo


def run(
    tmp_path: Path,
    repository: Path,
    workflow: str,
    *,
    event: str = "push",
    secrets: dict[str, str] | None = None,
    skip_steps: dict[str, str] | None = None,
) -> RunResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "workflow.yml"
    path.write_text(textwrap.dedent(workflow))
    sha = git(repository, "rev-parse", "HEAD")
    runner = WorkflowRunner(
        path,
        repository=repository,
        event=Event(event, sha, "refs/heads/main", before=git(repository, "rev-parse", "HEAD~1")),
        work_dir=tmp_path / "runner",
        secrets=secrets,
        skip_steps=skip_steps,
    )
    return runner.run()


def test_outputs_pass_from_step_to_job_to_dependent_job(tmp_path: Path, repository: Path) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          first:
            runs-on: ubuntu-latest
            outputs:
              answer: ${{ steps.compute.outputs.answer }}
              unset: ${{ steps.compute.outputs.never-written }}
            steps:
              - id: compute
                run: echo "answer=4${{ '2' }}" >> "$GITHUB_OUTPUT"
          second:
            needs: first
            runs-on: ubuntu-latest
            env:
              FROM_JOB: ${{ needs.first.outputs.answer }}
            steps:
              - name: got ${{ needs.first.outputs.answer }}
                run: |
                  test "$FROM_JOB" = 42
                  test "${{ needs.first.outputs.answer }}" = 42
                  test -z "${{ needs.first.outputs.unset }}"
                  echo "second saw $FROM_JOB and ${{ needs.first.result }}"
        """,
    )
    assert [r.result for r in result.runs] == ["success", "success"]
    assert result.of("first")[0].outputs == {"answer": "42", "unset": ""}
    assert "-- got 42" in result.log
    assert "second saw 42 and success" in "\n".join(result.log)


MATRIX_WORKFLOW = """
    on: push
    jobs:
      plan:
        runs-on: ubuntu-latest
        outputs:
          matrix: ${{ steps.m.outputs.matrix }}
          count: ${{ steps.m.outputs.count }}
        steps:
          - id: m
            run: |
              matrix='MATRIX'
              echo "matrix=${matrix}" >> "$GITHUB_OUTPUT"
              echo "count=$(echo "${matrix}" | jq '.include | length')" >> "$GITHUB_OUTPUT"
      build:
        needs: plan
        if: github.event_name == 'push' && needs.plan.outputs.count != '0'
        runs-on: ubuntu-latest
        strategy:
          fail-fast: FAIL_FAST
          matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
        steps:
          - name: build ${{ matrix.name }}
            run: |
              echo "built ${{ matrix.name }} at ${{ strategy.job-index }}"
              test "${{ matrix.name }}" != bad
      after:
        needs: build
        runs-on: ubuntu-latest
        steps:
          - run: echo "after the build"
"""


def matrix_workflow(matrix: str, fail_fast: str = "true") -> str:
    return MATRIX_WORKFLOW.replace("MATRIX", matrix).replace("FAIL_FAST", fail_fast)


def test_the_matrix_comes_from_the_plan_jobs_output(tmp_path: Path, repository: Path) -> None:
    matrix = '{"include":[{"name":"user-service"},{"name":"auth-api"}]}'
    result = run(tmp_path, repository, matrix_workflow(matrix))
    builds = result.of("build")
    assert [b.matrix for b in builds] == [{"name": "user-service"}, {"name": "auth-api"}]
    assert [b.steps[0].name for b in builds] == ["build user-service", "build auth-api"]
    assert "built auth-api at 1" in builds[1].steps[0].output
    assert builds[0].workspace != builds[1].workspace  # a fresh runner per combination
    assert result.result("after") == "success"


def test_an_empty_matrix_skips_the_build_and_its_dependants(
    tmp_path: Path, repository: Path
) -> None:
    result = run(tmp_path, repository, matrix_workflow('{"include":[]}'))
    assert (result.result("plan"), result.result("build"), result.result("after")) == (
        "success",
        "skipped",
        "skipped",
    )


def test_fail_fast_cancels_the_rest_unless_turned_off(tmp_path: Path, repository: Path) -> None:
    matrix = '{"include":[{"name":"bad"},{"name":"good"}]}'
    result = run(tmp_path / "a", repository, matrix_workflow(matrix))
    assert [b.result for b in result.of("build")] == ["failure", "cancelled"]
    assert result.result("after") == "skipped"
    result = run(tmp_path / "b", repository, matrix_workflow(matrix, fail_fast="false"))
    assert [b.result for b in result.of("build")] == ["failure", "success"]
    assert result.result("build") == "failure"


def test_service_specs_are_substituted_at_every_depth() -> None:
    spec = {"db": {"env": {"PASSWORD": "ci-${{ github.run_id }}"}, "ports": ["${{ 5432 }}"]}}
    assert substitute_within(spec, {"github": {"run_id": "7"}}) == {
        "db": {"env": {"PASSWORD": "ci-7"}, "ports": [5432]}
    }


def test_matrix_axes_include_and_exclude_expand_like_github() -> None:
    combos = expand_matrix(
        {
            "os": ["a", "b"],
            "py": ["3.9", "3.11"],
            "exclude": [{"os": "b", "py": "3.9"}],
            "include": [{"py": "3.11", "extra": "x"}, {"os": "c", "py": "3.12"}],
        }
    )
    assert combos == [
        {"os": "a", "py": "3.9"},
        {"os": "a", "py": "3.11", "extra": "x"},
        {"os": "b", "py": "3.11", "extra": "x"},
        {"os": "c", "py": "3.12"},
    ]
    assert expand_matrix({"include": []}) == []
    with pytest.raises(WorkflowError, match="not an object"):
        expand_matrix("[]")


def test_github_env_and_path_carry_to_later_steps_only(tmp_path: Path, repository: Path) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        env:
          LEVEL: workflow
        jobs:
          one:
            runs-on: ubuntu-latest
            env:
              LEVEL: job
            steps:
              - run: |
                  test "$LEVEL" = job
                  echo "LEVEL=exported" >> "$GITHUB_ENV"
                  test "$LEVEL" = job
                  { echo "LETTER<<END"; echo "a"; echo "b"; echo "END"; } >> "$GITHUB_ENV"
                  mkdir -p tools && printf '#!/bin/sh\\necho tool ran\\n' > tools/mytool
                  chmod +x tools/mytool && echo "$PWD/tools" >> "$GITHUB_PATH"
              - run: |
                  test "$LEVEL" = exported
                  test "$LETTER" = "$(printf 'a\\nb')"
                  test "${{ env.LEVEL }}" = exported
                  mytool
              - env:
                  LEVEL: step
                run: test "$LEVEL" = step
          two:
            needs: one
            runs-on: ubuntu-latest
            steps:
              - run: test "$LEVEL" = workflow && test -z "${LETTER:-}"
        """,
    )
    assert result.result("one") == "success", "\n".join(result.log)
    assert "tool ran" in result.of("one")[0].steps[1].output
    assert result.result("two") == "success", "\n".join(result.log)


def test_multi_line_outputs_and_the_commands_file_format(tmp_path: Path, repository: Path) -> None:
    assert parse_commands_file("a=1=2\n\nb<<EOF\nx\n\ny\nEOF\nc=\n", "GITHUB_OUTPUT") == {
        "a": "1=2",
        "b": "x\n\ny",
        "c": "",
    }
    with pytest.raises(WorkflowError, match="no closing 'EOF'"):
        parse_commands_file("b<<EOF\nx\n", "GITHUB_OUTPUT")
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          one:
            runs-on: ubuntu-latest
            outputs:
              notes: ${{ steps.write.outputs.notes }}
            steps:
              - id: write
                run: |
                  delimiter="ghadelimiter_$RANDOM"
                  {
                    echo "notes<<${delimiter}"; printf 'line 1\\nline=2\\n'; echo "${delimiter}"
                  } >> "$GITHUB_OUTPUT"
              - run: echo "## Release notes" >> "$GITHUB_STEP_SUMMARY"
        """,
    )
    assert result.of("one")[0].outputs == {"notes": "line 1\nline=2"}
    assert result.of("one")[0].summary == "## Release notes\n"


def test_a_failing_step_stops_the_job_and_skips_dependants(
    tmp_path: Path, repository: Path
) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          one:
            runs-on: ubuntu-latest
            steps:
              - run: false | true
                name: pipefail
              - run: echo "not reached"
              - if: failure()
                run: echo "cleanup after a failure"
              - if: always()
                run: echo "always"
          two:
            needs: one
            runs-on: ubuntu-latest
            steps:
              - run: echo "never"
          report:
            needs: one
            if: failure()
            runs-on: ubuntu-latest
            steps:
              - run: echo "reporting ${{ needs.one.result }}"
        """,
    )
    (one,) = result.of("one")
    assert [s.outcome for s in one.steps] == ["failure", "skipped", "success", "success"]
    assert "exit code 1" in one.steps[0].output
    assert (one.result, result.result("two"), result.result("report")) == (
        "failure",
        "skipped",
        "success",
    )
    assert "reporting failure" in result.of("report")[0].steps[0].output


def test_unknown_actions_and_expressions_are_errors(tmp_path: Path, repository: Path) -> None:
    workflow = """
        on: push
        jobs:
          one:
            runs-on: ubuntu-latest
            steps:
              - STEP
    """
    with pytest.raises(WorkflowError, match="docker/login-action@v3"):
        run(tmp_path / "a", repository, workflow.replace("STEP", "uses: docker/login-action@v3"))
    with pytest.raises(ExpressionError, match="unknown context 'vars'"):
        run(tmp_path / "b", repository, workflow.replace("STEP", "run: echo ${{ vars.X }}"))
    with pytest.raises(ExpressionError, match="unknown function hashFiles"):
        run(tmp_path / "c", repository, workflow.replace("STEP", "run: ${{ hashFiles('x') }}"))
    with pytest.raises(ExpressionError, match="no 'missing'"):
        run(tmp_path / "d", repository, workflow.replace("STEP", "run: ${{ github.missing }}"))
    with pytest.raises(WorkflowError, match="container"):  # a job in a container: not done
        run(
            tmp_path / "e",
            repository,
            workflow.replace("runs-on:", "container: debian:12\n            runs-on:"),
        )


def test_secrets_are_substituted_masked_and_empty_when_unset(
    tmp_path: Path, repository: Path
) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          one:
            runs-on: ubuntu-latest
            steps:
              - env:
                  TOKEN: ${{ secrets.TOKEN }}
                  UNSET: ${{ secrets.NOT_SET }}
                run: |
                  test -z "$UNSET"
                  echo "token is $TOKEN"
        """,
        secrets={"TOKEN": "s3cret-value"},
    )
    assert result.result("one") == "success"
    assert "token is ***" in result.of("one")[0].steps[0].output
    assert "s3cret-value" not in "\n".join(result.log)


def test_checkout_depth_branch_and_push_back(tmp_path: Path, repository: Path) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on:
          push:
            branches: [main]
        jobs:
          shallow:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: |
                  test "$(git rev-list --count HEAD)" = 1
                  test "$(git rev-parse HEAD)" = "$GITHUB_SHA"
          full:
            runs-on: ubuntu-latest
            permissions:
              contents: write
            steps:
              - uses: actions/checkout@v4
                with:
                  fetch-depth: 0
              - working-directory: .
                run: |
                  test "$(git rev-list --count HEAD)" = 2
                  test "$(git rev-parse --abbrev-ref HEAD)" = main
                  git -c user.name=ci -c user.email=ci@unifyops.invalid \\
                    commit -q --allow-empty -m "from ci"
                  git push -q
        """,
    )
    assert (result.result("shallow"), result.result("full")) == ("success", "success"), "\n".join(
        result.log
    )
    assert git(repository, "log", "-1", "--format=%s") == "from ci"
    with pytest.raises(WorkflowError, match="does not run on 'pull_request'"):
        run(tmp_path / "pr", repository, "on: push\njobs: {}\n", event="pull_request")


def test_artifacts_upload_per_name_and_download_merged(tmp_path: Path, repository: Path) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          build:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                name: [a, b]
            steps:
              - run: |
                  mkdir -p dist
                  echo '{"images":["${{ matrix.name }}"]}' > dist/images-${{ matrix.name }}.json
              - uses: actions/upload-artifact@v4
                with:
                  name: images-${{ matrix.name }}
                  path: dist/images-${{ matrix.name }}.json
          gather:
            needs: build
            runs-on: ubuntu-latest
            steps:
              - uses: actions/download-artifact@v4
                with:
                  pattern: images-*
                  merge-multiple: true
                  path: dist
              - uses: actions/download-artifact@v4
                with:
                  path: apart
              - run: |
                  jq -s '{images: map(.images) | add}' dist/images-*.json > dist/images.json
                  test "$(jq -c .images dist/images.json)" = '["a","b"]'
                  test -f apart/images-a/images-a.json
        """,
    )
    assert result.result("gather") == "success", "\n".join(result.log)


def test_a_step_skipped_by_the_runner_is_logged_with_its_reason(
    tmp_path: Path, repository: Path
) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          one:
            runs-on: ubuntu-latest
            steps:
              - name: Heavy
                run: exit 1
              - run: echo fine
        """,
        skip_steps={"one/Heavy": "run separately"},
    )
    assert [s.outcome for s in result.of("one")[0].steps] == ["skipped", "success"]
    assert "-- Heavy: skipped by this runner: run separately" in result.log


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("github.event_name == 'push' && github.event.before || 'fallback'", "abc"),
        ("github.event_name == 'PUSH' && ''  || format('origin/{0}', github.base_ref)", "origin/"),
        ("format('{0}-{{x}}-{1}', 'a', 1)", "a-{x}-1"),
        ("needs.plan.outputs.count != '0'", False),
        ("needs.plan.outputs.count == 0", True),
        ("!(1 < 2)", False),
        ("contains(fromJSON('[\"a\",\"b\"]'), 'B')", True),
        ("startsWith('refs/heads/main', 'refs/heads/')", True),
        ("toJSON(fromJSON('{\"a\":1}'))", '{\n  "a": 1\n}'),
        ("secrets.UNSET", None),
        ("null == 0", True),
    ],
)
def test_expressions_evaluate_as_on_github(expression: str, value: object) -> None:
    contexts = {
        "github": {"event_name": "push", "event": Lenient(before="abc"), "base_ref": ""},
        "needs": {"plan": {"outputs": {"count": "0"}}},
        "secrets": Lenient(),
    }
    assert evaluate(expression, contexts) == value


def test_conditions_without_a_status_function_need_success() -> None:
    contexts = {"github": {"event_name": "push"}}
    assert condition("github.event_name == 'push'", contexts, Status()) is True
    assert condition("${{ github.event_name == 'push' }}", contexts, Status(False, True)) is False
    assert condition("always() && github.event_name == 'push'", contexts, Status(False, True))
    with pytest.raises(ExpressionError, match="cannot read"):
        evaluate("a ~ b", contexts)


STAND_IN_UO = """#!/usr/bin/env bash
# Records its arguments; answers `matrix` and `publish` in the shape the real uo does.
echo "$*" >> "${CALLS}"
case "$1" in
  publish|bump|chart) echo "as ${UO_REGISTRY_USERNAME}" >> "${CALLS}" ;;&
  matrix) jq -c . "${MATRIX}" ;;
  publish) mkdir -p dist && echo '{"images": [{"repository": "unifyops/user-service"}]}' \\
    > "${@: -1}" ;;
esac
"""
SERVICES_STEP = "Services and tools the tests use (as build-support/run-tests sets them up)"
POSTGRES_STEP = "The tests' PostgreSQL is the service container"
USER_SERVICE: dict[str, object] = {
    "address": "x:image",
    "stack": "user",
    "tier": "service",
    "repository": "unifyops/user-service",
    "dockerfile": None,
}


def run_release_yml(
    tmp_path: Path, repository: Path, change: str, images: list[dict[str, object]]
) -> tuple[RunResult, list[str], str]:
    """release.yml for a push of a commit changing ``change``, its commands replaced by a
    recorder and ``uo matrix`` answering ``images``: (result, recorded calls, before)."""
    (repository / "uo").write_text(STAND_IN_UO)
    (repository / "pants").write_text('#!/bin/sh\necho "pants $*" >> "${CALLS}"\n')
    for script in ("services/docker.sh", "images/base-images.sh"):
        path = repository / "build-support" / script
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'#!/bin/sh\necho "{script}" >> "${{CALLS}}"\necho unix:///engine.sock\n')
    for path in [repository / "uo", repository / "pants", *repository.glob("build-support/*/*")]:
        path.chmod(0o755)
    git(repository, "add", ".")
    git(repository, "commit", "-qm", "stand-ins")
    (repository / change).parent.mkdir(parents=True, exist_ok=True)
    (repository / change).write_text("changed\n")
    git(repository, "add", ".")
    git(repository, "commit", "-qm", f"change {change}")
    calls, matrix = tmp_path / "calls", tmp_path / "matrix.json"
    matrix.write_text(json.dumps({"include": images}))
    path = tmp_path / "release.yml"
    # Without the plan job's PostgreSQL container: workflow_run_test.py starts it for real.
    workflow = yaml.safe_load((Path.cwd() / ".github/workflows/release.yml").read_text())
    del workflow["jobs"]["plan"]["services"]
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    before, sha = git(repository, "rev-parse", "HEAD~1"), git(repository, "rev-parse", "HEAD")
    result = WorkflowRunner(
        path,
        repository=repository,
        event=Event("push", sha, "refs/heads/main", before=before),
        work_dir=tmp_path / "runner",
        secrets={"UO_REGISTRY_USERNAME": "ci", "UO_REGISTRY_PASSWORD": "pw"},
        environ={**os.environ, "CALLS": str(calls), "MATRIX": str(matrix)},
        skip_steps={
            f"plan/{SERVICES_STEP}": "npm ci would reach the npm registry",
            f"plan/{POSTGRES_STEP}": "no service container in this copy",
        },
    ).run()
    return result, calls.read_text().splitlines(), before


def test_release_yml_wiring_on_stand_in_commands(tmp_path: Path, repository: Path) -> None:
    """The data flow of release.yml itself (SINCE, the matrix, artifacts, secrets), fast: its
    commands are replaced by a recorder; workflow_run_test.py runs the real ones."""
    service = "src/python/unifyops/identity/user/user_service/profiles.py"
    result, recorded, before = run_release_yml(tmp_path, repository, service, [USER_SERVICE])
    assert [(r.job, r.result) for r in result.runs] == [
        ("plan", "success"),
        ("build", "success"),
        ("gitops", "success"),
    ], "\n".join(result.log)
    assert f"check-core --since {before}" in recorded
    assert f"pants test --changed-since={before} --changed-dependents=transitive" in recorded
    assert "publish --env dev --image x:image --output dist/images-user-service.json" in recorded
    assert "bump --env dev --manifest dist/images.json --push --record " in recorded
    assert recorded.count("as ci") == 2  # publish and bump log in with the secrets' account
    assert not [call for call in recorded if call.startswith("chart")]  # the chart is unchanged
    assert result.of("build")[0].matrix == USER_SERVICE
    manifest = result.of("gitops")[0].workspace / "dist/images.json"  # type: ignore[operator]
    assert json.loads(manifest.read_text()) == {"images": [{"repository": "unifyops/user-service"}]}


def test_release_yml_publishes_and_pins_a_changed_chart_alone(
    tmp_path: Path, repository: Path
) -> None:
    chart = "src/charts/unifyops-stack/values.yaml"
    result, recorded, before = run_release_yml(tmp_path, repository, chart, [])
    assert [(r.job, r.result) for r in result.runs] == [
        ("plan", "success"),
        ("build", "skipped"),
        ("gitops", "success"),
    ], "\n".join(result.log)
    assert result.of("plan")[0].outputs["chart"] == "true"
    after_plan = recorded[recorded.index(f"affected --since {before}") + 1 :]
    assert after_plan == [
        "chart publish --env dev",
        "as ci",
        "chart bump --env dev --push",
        "as ci",
    ]


def test_a_service_whose_image_cannot_be_had_fails_the_job_before_any_step(
    tmp_path: Path, repository: Path
) -> None:
    result = run(
        tmp_path,
        repository,
        """
        on: push
        jobs:
          tests:
            runs-on: ubuntu-latest
            services:
              db:
                image: uo-no-such-image:1
                ports: [5432]
            steps:
              - run: echo never > "$GITHUB_WORKSPACE/ran"
          after:
            needs: tests
            runs-on: ubuntu-latest
            steps:
              - run: echo never
        """,
    )
    assert [(r.job, r.result) for r in result.runs] == [("tests", "failure"), ("after", "skipped")]
    (job,) = result.of("tests")
    assert job.steps == []
    assert job.workspace is not None
    assert not (job.workspace / "ran").exists()
    assert "service db: cannot pull uo-no-such-image:1 here" in "\n".join(result.log)
