"""What `uo up --watch` counts as drift, seen on the real engine: a container stopped, removed,
taken off a network or started by hand; a changed file of the desired state; and `uo status`'s
drift lines. Converging a real environment is proven in tests/e2e/watch_test.py; here the
reconciler is replaced only to prove when the watcher calls it and how it reports a failure."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from uo.local import commands, reconcile, watch
from uo.local.topology import LABEL

ENGINE = "unix:///var/lib/unifyops-docker/docker.sock"  # as conftest.py; for child processes


def sleeper(
    client: docker.DockerClient, environment: str, image: str, tier: str, network: str
) -> Container:
    """A container labelled as `uo up` labels its workloads, on one network of the environment."""
    container: Container = client.containers.run(
        image,
        ["sleep", "600"],
        name=f"uo-{environment}-demo-{tier}-{secrets.token_hex(2)}",
        labels={
            f"{LABEL}.environment": environment,
            f"{LABEL}.stack": "demo",
            f"{LABEL}.tier": tier,
        },
        network=network,
        detach=True,
        init=True,
    )
    return container


@pytest.fixture
def network(client: docker.DockerClient, environment: str) -> str:
    name = f"uo-{environment}-demo"
    client.networks.create(name, internal=True, labels={f"{LABEL}.environment": environment})
    return name


def test_nothing_drifts_while_nobody_touches_the_engine(
    client: docker.DockerClient, environment: str, image: str, network: str
) -> None:
    sleeper(client, environment, image, "service", network)
    sleeper(client, environment, image, "migrate", network)  # a hook's record: not a workload
    converged = watch.snapshot(client, environment)
    assert len(converged) == 1
    assert watch.drift(converged, watch.snapshot(client, environment)) == []


def test_stopped_removed_unplugged_and_foreign_containers_are_drift(
    client: docker.DockerClient, environment: str, image: str, network: str
) -> None:
    stopped = sleeper(client, environment, image, "service", network)
    removed = sleeper(client, environment, image, "api", network)
    unplugged = sleeper(client, environment, image, "app", network)
    converged = watch.snapshot(client, environment)

    stopped.stop(timeout=1)
    removed.remove(force=True)
    client.networks.get(network).disconnect(unplugged)
    foreign = sleeper(client, environment, image, "service", network)

    assert watch.drift(converged, watch.snapshot(client, environment)) == [
        *sorted(
            [
                f"{stopped.name} is exited",
                f"{removed.name} was removed",
                f"{unplugged.name} left {network}",
            ]
        ),
        f"{foreign.name} was started outside uo up",
    ]
    # `uo status` shows the stopped one as drift (it cannot know about the removed one).
    lines = [line for line in commands.drift_lines(client, {}) if environment in line]
    assert lines == [f"{environment}/demo-service is exited ({stopped.name})"]


def test_the_desired_state_digest_follows_infra_and_the_chart(tmp_path: Path) -> None:
    (tmp_path / "infra/environments/dev").mkdir(parents=True)
    (tmp_path / "src/charts/unifyops-stack").mkdir(parents=True)
    values = tmp_path / "infra/environments/dev/user.yaml"
    values.write_text("replicas: 1\n")
    (tmp_path / "src/charts/unifyops-stack/Chart.yaml").write_text("version: 0.2.2\n")
    (tmp_path / "README.md").write_text("not desired state\n")
    first = watch.desired_state_digest(tmp_path)

    (tmp_path / "README.md").write_text("edited\n")
    assert watch.desired_state_digest(tmp_path) == first
    values.write_text("replicas: 2\n")
    changed = watch.desired_state_digest(tmp_path)
    assert changed != first
    values.write_text("replicas: 1\n")  # a revert brings the digest back
    assert watch.desired_state_digest(tmp_path) == first
    values.rename(values.with_name("users.yaml"))  # a rename is a change too
    assert watch.desired_state_digest(tmp_path) not in (first, changed)


class StandInReconciler:
    """Replaces reconcile.Reconciler: counts its runs and fails while ``failing`` is set."""

    runs = 0
    failing = False

    def __init__(self, _client: Any, plan: reconcile.Plan, _report: Any) -> None:
        self.plan = plan

    def run(self) -> reconcile.Outcome:
        StandInReconciler.runs += 1
        if StandInReconciler.failing:
            raise reconcile.RolloutError("user-service: the new version never became ready")
        return reconcile.Outcome(self.plan.environment, changes=["user-service restored"])


def test_the_watcher_converges_on_drift_only_and_retries_a_failed_converge(
    client: docker.DockerClient,
    environment: str,
    image: str,
    network: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconcile, "Reconciler", StandInReconciler)
    monkeypatch.setattr(reconcile, "supervise", lambda *_: True)
    StandInReconciler.runs, StandInReconciler.failing = 0, False
    (tmp_path / "infra").mkdir()
    values = tmp_path / "infra/values.yaml"
    values.write_text("a: 1\n")
    container = sleeper(client, environment, image, "service", network)
    plan = reconcile.Plan(environment, None, "edge", repo=str(tmp_path))
    lines: list[str] = []
    watcher = watch.Watcher(client, plan, lines.append, interval=0.1, resync=3600)

    assert watcher.cycle() == []
    assert StandInReconciler.runs == 0
    assert lines == []

    container.stop(timeout=1)
    StandInReconciler.failing = True
    assert watcher.cycle() is None
    assert any(f"drift: {container.name} is exited" in line for line in lines)
    assert any("converge failed, what runs keeps running; next try in 0.1s" in x for x in lines)
    assert "  user-service: the new version never became ready" in lines
    assert watcher.cycle() is None  # still drifted: tried again
    assert StandInReconciler.runs == 2

    StandInReconciler.failing = False
    container.start()  # (the stand-in changes nothing: put it back as a converge would)
    values.write_text("a: 2\n")
    lines.clear()
    assert watcher.cycle() == ["user-service restored"]
    assert any("drift: the desired state changed (infra/ or the chart)" in x for x in lines)
    assert any("converged: user-service restored" in x for x in lines)
    assert watcher.cycle() == []  # converged: quiet again

    stop = threading.Event()
    stop.set()
    watcher.run(stop)  # returns at once once asked to stop
    assert StandInReconciler.runs == 3


CHILD_WATCHER = """
import signal, sys, threading
from uo.local import watch
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
try:
    with watch.registered(sys.argv[1]):
        print("watching", flush=True)
        stop.wait(60)
except watch.AlreadyWatchedError as exc:
    print(exc, flush=True)
    sys.exit(3)
print("stopped" if stop.is_set() else "timed out", flush=True)
"""


def child_watcher(environment: str) -> subprocess.Popen[str]:
    """Another process running the watcher's registration, as `uo up --watch` does."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_WATCHER, environment],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_one_watcher_per_environment_and_uo_down_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UO_CACHE_DIR", str(tmp_path))  # the child inherits it
    environment = f"wt{secrets.token_hex(3)}"
    assert watch.watcher_pid(environment) is None
    assert watch.stop_watcher(environment, print) is False  # nothing to stop

    first = child_watcher(environment)
    assert first.stdout is not None
    assert first.stdout.readline() == "watching\n"
    assert watch.watcher_pid(environment) == first.pid
    second = child_watcher(environment)
    out, _ = second.communicate(timeout=30)
    assert second.returncode == 3
    assert f"already watched by process {first.pid}" in out
    with pytest.raises(watch.AlreadyWatchedError), watch.registered(environment):
        pass  # nor this process

    # `uo status` says so (why what is stopped by hand comes back).
    monkeypatch.setenv("DOCKER_HOST", os.environ.get("DOCKER_HOST") or ENGINE)
    commands.print_running()
    assert f"{environment} is kept converged by `uo up --watch` (process {first.pid})" in (
        capsys.readouterr().out
    )
    assert watch.watched() == {environment: first.pid}

    lines: list[str] = []
    assert watch.stop_watcher(environment, lines.append) is True
    assert first.wait(timeout=30) == 0
    assert first.stdout.read() == "stopped\n"
    assert lines == [f"[{environment}] stopping its watcher (process {first.pid}, `uo up --watch`)"]
    assert watch.watcher_pid(environment) is None  # it unregistered itself
    assert watch.watched() == {}

    # A registration left by a process that is gone (killed, the machine restarted) is stale.
    killed = child_watcher(environment)
    assert killed.stdout is not None
    assert killed.stdout.readline() == "watching\n"
    killed.kill()
    killed.wait(timeout=30)
    assert watch.watcher_pid(environment) is None
    with watch.registered(environment):
        assert watch.watcher_pid(environment) == os.getpid()
    assert watch.watcher_pid(environment) is None


CHILD_UP_WATCH = """
import sys
from uo.local import commands, engine, reconcile
plan = reconcile.Plan(sys.argv[1], None, "edge", repo=sys.argv[2])
sys.exit(commands.keep_converged(engine.connect(), plan, 0.2))
"""


def test_the_watch_loop_of_uo_up_ends_when_uo_down_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`uo up --watch`'s loop in a process of its own: registered, and SIGTERM from `uo down`'s
    stop_watcher ends it within a look, saying why."""
    monkeypatch.setenv("UO_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", os.environ.get("DOCKER_HOST") or ENGINE)
    environment = f"wt{secrets.token_hex(3)}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_UP_WATCH, environment, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().startswith(f"watching {environment} every 0.2s")
    deadline = time.monotonic() + 30
    while watch.watcher_pid(environment) != child.pid:
        assert time.monotonic() < deadline, "the watcher never registered"
        time.sleep(0.05)
    assert watch.stop_watcher(environment, print) is True
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert f"{environment} is being taken down (uo down); stopped watching" in out
    assert watch.watcher_pid(environment) is None
