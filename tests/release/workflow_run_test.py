""".github/workflows/release.yml executed, not only linted: a push to main of a one-line change in
one service, run by the local workflow runner (workflow_runner.py; GitHub itself cannot run here)
job by job, step by step, against a bare repository standing in for the GitHub repository and a
throwaway registry of the real kind (TLS, htpasswd) standing in for dev's registry.

Asserted: the plan job's matrix holds exactly the affected image; the build job pushed it (its
digest read back from the registry with the account the secrets carry); the gitops job pushed one
commit to main that pins that digest in infra/environments/dev/user.yaml and moved dev-latest.

A pull request runs the plan job only, and its job summary holds the manifest diff a reviewer
reads (`uo diff`): exactly the object the change touches.

The steps run as an unprivileged account (build-support/services/runner-user.sh: like GitHub's
`runner`, in the engine's group, passwordless sudo) with its own login environment, and the
interpreters actions/setup-python puts on PATH come from the runner's tool cache: nothing of the
invoking root user's home, caches or PATH is reachable from a step.

Builds an image and runs ./pants in fresh clones (like release_e2e_test.py): minutes, not seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from images.built import built_images
from release.workflow_runner import Event, RunnerAccount, RunResult, WorkflowRunner
from uo.registry import Registry
from uo.registry_testutil import ENGINE, ThrowawayRegistry, throwaway_registry

USER_SERVICE = "src/python/unifyops/identity/user/user_service:image"
# The tests of the change are the project's whole test run (the change reaches tests/e2e, which
# bring up environments); ./pants test :: runs them, and nesting them here would run them twice.
NOT_RUN_HERE = {
    "plan/Services and tools the tests use (as build-support/run-tests sets them up)": (
        "only the next step needs them"
    ),
    "plan/Tests of what the change can affect": (
        "the project's own test run (./pants test ::) runs these tests; not nested here"
    ),
}


# Where actions/setup-python finds its interpreters (GitHub's RUNNER_TOOL_CACHE); it persists
# on this machine like a self-hosted runner's, so the interpreters are copied in once.
TOOL_CACHE = Path("/opt/hostedtoolcache")


def service_images() -> dict[str, str]:
    """The plan job's PostgreSQL: GitHub pulls the official postgres:15; this machine reaches no
    public image registry, so the project's own PostgreSQL 15 image stands in (built for this
    test by Pants; it reads the same POSTGRES_* variables and has pg_isready)."""
    return {"postgres:15": built_images()["unifyops/postgres"].reference}


def git(repo: Path, *args: str) -> str:
    # The repositories belong to the runner account; this (root) process reads and seeds them.
    # safe.directory must come from the global configuration: a local clone's upload-pack drops
    # command-line configuration.
    trusting = Path(tempfile.gettempdir()) / "uo-workflow-run.gitconfig"
    if not trusting.exists():
        trusting.write_text("[safe]\n\tdirectory = *\n")
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": str(trusting)},
    ).stdout.strip()


@pytest.fixture(scope="module")
def runner_account() -> RunnerAccount:
    """The unprivileged account the jobs run as, made (idempotently) as GitHub's runner is."""
    script = Path(os.environ["UO_REPO_ROOT"]) / "build-support/services/runner-user.sh"
    made = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert made.returncode == 0, f"the runner account could not be made:\n{made.stderr}"
    return RunnerAccount.named(made.stdout.strip())


@pytest.fixture(scope="module")
def runner_home(runner_account: RunnerAccount) -> Iterator[Path]:
    """A directory the account owns for this module's repositories and jobs (pytest's own
    temporary directories are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="uo-workflow-run-"))
    runner_account.own(root)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def as_runner(runner_account: RunnerAccount, root: Path, name: str) -> Path:
    directory = root / name
    directory.mkdir()
    runner_account.own(directory)
    return directory


@pytest.fixture(scope="module")
def github(runner_account: RunnerAccount, runner_home: Path) -> tuple[Path, str, str]:
    """The "GitHub repository" (bare) after a push of a one-line change: (path, before, after)."""
    root = runner_home / "github"
    root.mkdir()
    origin, work = root / "origin.git", root / "work"
    git(root, "clone", "-q", "--bare", "--no-hardlinks", os.environ["UO_REPO_ROOT"], str(origin))
    git(root, "clone", "-q", str(origin), str(work))
    git(work, "config", "user.email", "dev@unifyops.invalid")
    git(work, "config", "user.name", "dev")
    before = git(work, "rev-parse", "HEAD")
    profiles = work / "src/python/unifyops/identity/user/user_service/profiles.py"
    profiles.write_text(profiles.read_text() + "\n# a one-line change to release\n")
    git(work, "commit", "-qam", "user-service: a one-line change")
    git(work, "push", "-q", "origin", "HEAD:main")
    runner_account.own(root)  # the gitops job pushes to it as the runner account
    return origin, before, git(work, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayRegistry]:
    with throwaway_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture(scope="module")
def account(registry: ThrowawayRegistry) -> dict[str, str]:
    """The registry account as repository secrets carry it."""
    user, password = (registry.state / "auth/credentials").read_text().strip().split(":", 1)
    return {"UO_REGISTRY_USERNAME": user, "UO_REGISTRY_PASSWORD": password}


@pytest.fixture(scope="module")
def run(
    github: tuple[Path, str, str],
    registry: ThrowawayRegistry,
    account: dict[str, str],
    runner_account: RunnerAccount,
    runner_home: Path,
) -> Iterator[RunResult]:
    origin, before, after = github
    root = as_runner(runner_account, runner_home, "push-run")
    no_login = as_runner(runner_account, root, "docker-config")  # the secrets are the only login
    environ = {
        **runner_account.login_environ(),
        "DOCKER_HOST": os.environ.get("DOCKER_HOST") or ENGINE,
        "DOCKER_CONFIG": str(no_login),
        # dev's registry: $UO_REGISTRY overrides env.yaml's (a host this machine cannot reach).
        "UO_REGISTRY": registry.address,
    }
    workflow = root / "checkout"
    git(root, "clone", "-q", str(origin), str(workflow))  # the workflow as of the pushed commit
    runner = WorkflowRunner(
        workflow / ".github/workflows/release.yml",
        repository=origin,
        event=Event("push", after, "refs/heads/main", before=before),
        work_dir=root / "jobs",
        secrets=account,  # no UO_RECORD_URL: the bump is made and not recorded
        environ=environ,
        skip_steps=NOT_RUN_HERE,
        echo=print,
        account=runner_account,
        tool_cache=TOOL_CACHE,
        service_images=service_images(),
    )
    try:
        yield runner.run()
    finally:
        stop_pantsd(root / "jobs")


def stop_pantsd(jobs: Path) -> None:
    """The pantsd each job's fresh clone started."""
    for pid_file in jobs.glob("*/workspace/.pants.d/pids/pantsd/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def log(result: RunResult) -> str:
    return "\n".join(result.log[-80:])


def test_every_job_ran_and_succeeded(run: RunResult) -> None:
    assert [(r.job, r.result) for r in run.runs] == [
        ("plan", "success"),
        ("build", "success"),
        ("gitops", "success"),
    ], log(run)
    not_run = [line for line in run.log if "skipped by this runner" in line]
    assert len(not_run) == len(NOT_RUN_HERE), not_run
    # The change leaves the chart alone: nothing to publish or pin for it.
    (gitops,) = run.of("gitops")
    assert [s.outcome for s in gitops.steps if "chart" in s.name] == ["skipped"]


def test_the_steps_ran_as_the_unprivileged_runner_account(
    run: RunResult, runner_account: RunnerAccount
) -> None:
    (build,) = run.of("build")
    assert build.workspace is not None
    record = next((build.workspace / "dist").glob("images-*.json"))  # written by uo publish
    for path in (build.workspace / "src", build.workspace / ".git", record):
        assert path.stat().st_uid == runner_account.uid, path
    assert runner_account.uid != 0
    # Python came from the tool cache (setup-python), not from root's PATH or pyenv.
    (plan,) = run.of("plan")
    setup = next(step for step in plan.steps if step.name.startswith("actions/setup-python"))
    assert f"python3.9: {TOOL_CACHE}/Python/3.9." in setup.output, setup.output


def test_the_plan_jobs_postgresql_is_its_service_container(run: RunResult) -> None:
    (plan,) = run.of("plan")
    step = next(s for s in plan.steps if s.name == "The tests' PostgreSQL is the service container")
    assert step.outcome == "success"
    assert step.output.startswith("15."), step.output  # SHOW server_version, with the password
    # Gone with the job, as on GitHub.
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=uo.workflow-runner=1"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DOCKER_HOST": os.environ.get("DOCKER_HOST") or ENGINE},
    )
    assert left.stdout.strip() == ""


def test_the_matrix_holds_exactly_the_affected_image(run: RunResult) -> None:
    (plan,) = run.of("plan")
    matrix = json.loads(plan.outputs["matrix"])
    assert [entry["address"] for entry in matrix["include"]] == [USER_SERVICE]
    assert plan.outputs["count"] == "1"
    (build,) = run.of("build")
    assert build.matrix is not None
    assert build.matrix == matrix["include"][0]
    assert build.matrix["repository"] == "unifyops/user-service"


def test_the_build_pushed_the_image_and_gitops_pinned_its_digest(
    run: RunResult,
    github: tuple[Path, str, str],
    registry: ThrowawayRegistry,
    account: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    origin, _, after = github
    for name, value in account.items():
        monkeypatch.setenv(name, value)
    with Registry(registry.address) as client:
        pushed = client.manifest("unifyops/user-service", after)
        latest = client.manifest("unifyops/user-service", "dev-latest")
    assert pushed is not None, f"unifyops/user-service:{after} is not in the registry"
    assert latest is not None
    assert latest.digest == pushed.digest

    # One commit on top of the pushed change, touching only dev's user stack.
    assert git(origin, "rev-parse", "main~1") == after
    changed = git(origin, "show", "--name-only", "--format=", "main")
    assert changed == "infra/environments/dev/user.yaml"
    dev_user = YAML().load(git(origin, "show", "main:infra/environments/dev/user.yaml"))
    image = dev_user["tiers"]["service"]["image"]
    assert (image["tag"], image["digest"]) == (after, pushed.digest)


@pytest.fixture(scope="module")
def pull_request(runner_account: RunnerAccount, runner_home: Path) -> Iterator[RunResult]:
    """The workflow on a pull request that gives staging's user-api 5 replicas."""
    root = runner_home / "pull-request"
    root.mkdir()
    origin, work = root / "origin.git", root / "work"
    git(root, "clone", "-q", "--bare", "--no-hardlinks", os.environ["UO_REPO_ROOT"], str(origin))
    git(root, "clone", "-q", str(origin), str(work))
    git(work, "config", "user.email", "dev@unifyops.invalid")
    git(work, "config", "user.name", "dev")
    git(work, "checkout", "-q", "-b", "scale-user-api")
    values = work / "infra/environments/staging/user.yaml"
    document = YAML()
    staging_user = document.load(values.read_text())
    staging_user["tiers"]["api"]["replicas"] = 5
    document.dump(staging_user, values)
    git(work, "commit", "-qam", "staging: user-api on 5 replicas")
    git(work, "push", "-q", "origin", "scale-user-api")
    head = git(work, "rev-parse", "HEAD")
    runner_account.own(root)
    runner = WorkflowRunner(
        work / ".github/workflows/release.yml",
        repository=origin,
        event=Event(
            "pull_request", head, "refs/pull/1/merge", base_ref="main", head_ref="scale-user-api"
        ),
        work_dir=root / "jobs",
        environ={
            **runner_account.login_environ(),
            "DOCKER_HOST": os.environ.get("DOCKER_HOST") or ENGINE,
        },
        skip_steps=NOT_RUN_HERE,
        echo=print,
        account=runner_account,
        tool_cache=TOOL_CACHE,
        service_images=service_images(),
    )
    try:
        yield runner.run()
    finally:
        stop_pantsd(root / "jobs")


def test_a_pull_request_only_plans_and_shows_the_manifest_diff(pull_request: RunResult) -> None:
    assert [(r.job, r.result) for r in pull_request.runs] == [
        ("plan", "success"),
        ("build", "skipped"),
        ("gitops", "skipped"),
    ], log(pull_request)
    (plan,) = pull_request.of("plan")
    assert plan.outputs["count"] == "0"  # a values change rebuilds no image
    summary = plan.summary
    assert summary.startswith("### Manifest changes since `origin/main` (what Argo CD would apply)")
    assert "1 changed, 0 added, 0 removed objects in 1 environment/stack pairs" in summary
    assert "#### staging/user\n\n```diff\n--- a/staging/user/Deployment/user-api" in summary
    assert "\n-  replicas: 2\n+  replicas: 5\n" in summary
    assert summary.count("#### ") == 1
