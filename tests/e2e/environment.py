"""The e2e tests' environment: the images Pants built for this run, brought up by `uo up` itself
(``main(["up", "--env", "test", "--images-from", "."])``: the rendered chart, with dev's stack
files and the local overlay) as environment ``test`` — its own names, networks and ports, so a
developer's ``local`` environment on the same engine is left alone. `uo up` runs twice; what the
second run printed and whether it touched a container is kept for tests/e2e/cli_up_test.py."""

from __future__ import annotations

import contextlib
import io
import sys
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker
import httpx
import pytest

from unifyops_core.naming import STACKS
from uo.cli import main
from uo.local import engine, reconcile, sources, topology, vault, wiring
from uo.local.topology import StackImages

ENVIRONMENT = "test"
PASSWORD = "a long enough passphrase"
UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}


@dataclass(frozen=True)
class CliRun:
    """One `uo up` through ``main(argv)``: its exit code, what it printed on stdout, and the
    environment's containers (name -> id and start time) after it."""

    code: int
    stdout: str
    containers: dict[str, tuple[str, str]]


@dataclass
class Running:
    client: docker.DockerClient
    plan: reconcile.Plan
    outcome: reconcile.Outcome
    cli_runs: list[CliRun] = field(default_factory=list)  # the two `uo up` that started it

    def url(self, name: str, path: str = "") -> str:
        return self.outcome.urls[name] + path

    def up(self, **changes: object) -> reconcile.Outcome:
        """Reconcile again with some fields of the plan changed (e.g. ``images=``); the changed
        plan becomes the current one when it succeeds."""
        candidate = replace(self.plan, **changes)  # type: ignore[arg-type]
        self.outcome = reconcile.up(self.client, candidate, print)
        self.plan = candidate
        return self.outcome

    def with_image(self, stack: str, **tiers: str) -> dict[str, StackImages]:
        images = dict(self.images())
        images[stack] = replace(images[stack], **tiers)
        return images

    def container(self, stack: str, tier: str) -> docker.models.containers.Container:
        found = [
            c
            for c in engine.containers(self.client, self.plan.environment, stack=stack, tier=tier)
            if c.status == "running"
        ]
        assert len(found) == 1, [c.name for c in found]
        return found[0]

    def secrets(self) -> vault.EnvironmentSecrets:
        return vault.load_or_create(self.client, self.plan.environment, self.plan.edge_image, [])

    def images(self) -> dict[str, StackImages]:
        assert self.plan.images is not None
        return self.plan.images

    def topology(self) -> wiring.Topology:
        """What the rendered NetworkPolicies allow, for this plan (the model the e2e tests
        compare the running containers with; Prometheus included)."""
        objects, first = reconcile.rendered_objects(self.client, self.plan)
        return reconcile.wired_topology(self.plan, objects, first)


_shared: Running | None = None


def shared(config: pytest.Config) -> Running:
    """Environment ``test`` for every e2e-style test file in this pytest process.

    Pants batches the files that share the ``e2e-environment`` compatibility tag (tests/e2e,
    tests/security) into one process; their conftests each declare a ``running`` fixture, and
    both return this one object, so the environment is brought up once and removed when the
    session ends.
    """
    global _shared
    if _shared is None:
        client = engine.connect()
        reconcile.down(
            client, ENVIRONMENT, volumes=True, report=print
        )  # an aborted run's leftovers

        def remove() -> None:
            reconcile.down(client, ENVIRONMENT, volumes=True, report=print)

        config.add_cleanup(remove)
        runs = [uo_up(client), uo_up(client)]
        if runs[0].code != 0:
            pytest.fail(f"uo up --env {ENVIRONMENT} exited {runs[0].code}:\n{runs[0].stdout}")
        # The same plan at the reconciler, for the tests that roll images (Running.up); after two
        # `uo up` it changes nothing either.
        the_plan = plan(Path.cwd())
        _shared = Running(client, the_plan, reconcile.up(client, the_plan, print), runs)
    return _shared


def uo_up(client: docker.DockerClient) -> CliRun:
    """`uo up` as a user types it, with the images this test run's `pants package` built (the
    sandbox root holds their docker-info files): stdout is captured, and echoed for the log."""
    argv = ["up", "--env", ENVIRONMENT, "--images-from", ".", "--ready-timeout", "60"]
    captured = io.StringIO()
    # The checkout is this sandbox (its chart and infra/), not the one UO_REPO_ROOT names.
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(captured):
        patch.setenv("UO_REPO_ROOT", str(Path.cwd()))
        code = main(argv)
    sys.stdout.write(captured.getvalue())
    containers = {
        c.name: (c.id, c.attrs["State"]["StartedAt"])
        for c in engine.containers(client, ENVIRONMENT)
    }
    return CliRun(code, captured.getvalue(), containers)


def plan(root: Path, environment: str = ENVIRONMENT) -> reconcile.Plan:
    images, edge_image = sources.from_dist(root, list(STACKS))
    return reconcile.Plan(
        environment,
        images,
        edge_image,
        repo=str(root),
        ready_timeout=60,
        prometheus_image=sources.prometheus_image(root),
        logs_image=sources.logs_image(root),
    )


def derive(
    client: docker.DockerClient,
    base: str,
    name: str,
    instructions: list[str],
    files: dict[str, bytes] | None = None,
) -> str:
    """A new image on top of ``base`` (an id): a few Dockerfile lines and files; returns its id."""
    tag = f"uo-e2e/{name}:base"
    client.images.get(base).tag(f"uo-e2e/{name}", "base")
    dockerfile = "\n".join([f"FROM {tag}", *instructions]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as context:
        for path, data in {"Dockerfile": dockerfile, **(files or {})}.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            context.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    image, _ = client.images.build(
        fileobj=buffer, custom_context=True, tag=f"uo-e2e/{name}:derived", rm=True
    )
    return str(image.id)


def register_and_login(running: Running, email: str) -> dict[str, str]:
    auth = running.url("auth-api")
    registered = httpx.post(f"{auth}/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    login = httpx.post(f"{auth}/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens: dict[str, str] = login.json()
    return tokens


def assert_uniform(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert set(body) >= UNIFORM_KEYS, body
    assert response.headers["X-Error-ID"] == body["error_id"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


__all__ = [
    "ENVIRONMENT",
    "CliRun",
    "Running",
    "assert_uniform",
    "bearer",
    "derive",
    "plan",
    "register_and_login",
    "shared",
    "topology",
]
