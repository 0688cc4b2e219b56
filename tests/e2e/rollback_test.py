"""Rollback is a git revert: bump dev to a new image, `uo up --env dev`, revert the bump commit,
and `uo up --watch` brings the previous digest back by itself. The infra files live in a throwaway
git repository; the images are pushed to the local registry and pulled back by digest, as for a
real environment. Only the auth stack runs (every other stack is the same machinery)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import docker
import httpx
import pytest
from ruamel.yaml import YAML

from e2e.environment import derive
from unifyops_core.naming import STACKS
from uo.bump import Release, bump
from uo.images import inspect
from uo.local import engine, reconcile, sources, watch
from uo.registry import Registry

REGISTRY = sources.DEFAULT_REGISTRY
ENV = "dev"


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def push(client: docker.DockerClient, image_id: str, repository: str, tag: str) -> str:
    """Push an image as registry/repository:tag; returns the digest the registry holds."""
    client.images.get(image_id).tag(f"{REGISTRY}/{repository}", tag)
    for line in client.images.push(f"{REGISTRY}/{repository}", tag, stream=True, decode=True):
        assert "error" not in line, line
    with Registry(REGISTRY) as registry:  # TLS and the account registry.sh logged in with
        return inspect(registry, repository, tag).digest


@pytest.fixture
def infra_repo(tmp_path: Path) -> Path:
    """A checkout of its own: infra/ to bump and revert, and the chart `uo up` renders."""
    repo = tmp_path / "repo"
    shutil.copytree(Path.cwd() / "infra", repo / "infra")
    shutil.copytree(Path.cwd() / "src/charts", repo / "src/charts")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.email", "e2e@example.com")
    git(repo, "config", "user.name", "e2e")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "infra as in the repository")
    return repo


def running_image(client: docker.DockerClient, tier: str) -> str:
    (container,) = [
        c for c in engine.containers(client, ENV, stack="auth", tier=tier) if c.status == "running"
    ]
    return str(container.image.id)


def assert_only_the_service_rolled(changes: list[str]) -> None:
    """A new service image reruns its stack's jobs (migrations, client registration) and rolls
    the service; the api, database and edge stay as they are."""
    assert "auth-service updated" in changes
    rolled = {change for change in changes if change.endswith(("updated", "created", "restored"))}
    assert rolled == {"auth-service updated"}


def test_git_revert_of_a_bump_brings_the_previous_digest_back(infra_repo: Path) -> None:
    client = engine.connect()
    reconcile.down(client, ENV, volumes=True, report=print)
    images, edge_image = sources.from_dist(Path.cwd(), list(STACKS))
    auth = images["auth"]
    assert auth.app is not None
    app_image = auth.app
    second_service = derive(
        client, auth.service, "auth-service-rollback", ["ENV UO_E2E_GENERATION=second"]
    )

    first = {
        tier: Release(
            "auth",
            tier,
            "e2e-rollback-1",
            push(client, image, f"unifyops/auth-{tier}", "e2e-rollback-1"),
            None,
        )
        for tier, image in (("service", auth.service), ("api", auth.api), ("app", app_image))
    }
    database_digest = push(client, auth.database, "unifyops/postgres", "e2e-rollback-1")
    second = Release(
        "auth",
        "service",
        "e2e-rollback-2",
        push(client, second_service, "unifyops/auth-service", "e2e-rollback-2"),
        None,
    )
    # The starting point: dev's auth stack (database included) on the first images.
    auth_file = infra_repo / f"infra/environments/{ENV}/auth.yaml"
    yaml = YAML()
    document = yaml.load(auth_file.read_text())
    document["database"]["internal"]["image"] = {"tag": "e2e-rollback-1", "digest": database_digest}
    yaml.dump(document, auth_file)
    git(infra_repo, "commit", "-q", "-am", "dev database image")
    assert bump(infra_repo, ENV, list(first.values()))

    # `uo up --env dev` of the auth stack: what infra records, pulled by digest.
    plan = reconcile.Plan(
        ENV,
        None,
        edge_image,
        repo=str(infra_repo),
        stacks=("auth",),
        registry=REGISTRY,
        ready_timeout=60,
    )

    def up() -> reconcile.Outcome:
        return reconcile.up(client, plan, print)

    try:
        up()
        first_id = running_image(client, "service")
        assert (
            first_id
            == client.images.get(f"{REGISTRY}/unifyops/auth-service@{first['service'].digest}").id
        )

        bump_commit = bump(infra_repo, ENV, [second])
        assert bump_commit
        outcome = up()
        assert_only_the_service_rolled(outcome.changes)
        assert running_image(client, "service") == second_service

        # `uo up --watch` running: the revert commit alone brings the first digest back.
        lines: list[str] = []
        watcher = watch.Watcher(client, plan, lines.append, interval=1)
        assert watcher.cycle() == []  # converged: nothing to do before the revert
        git(infra_repo, "revert", "--no-edit", bump_commit)
        changes = watcher.cycle()
        assert changes is not None, "\n".join(lines)
        assert any("drift: the desired state changed" in line for line in lines), lines
        assert_only_the_service_rolled(changes)
        assert running_image(client, "service") == first_id
        health = httpx.get(outcome.urls["auth-api"] + "/health/ready", timeout=5)
        assert health.status_code == 200
    finally:
        reconcile.down(client, ENV, volumes=True, report=print)
