"""The supervisor on the real engine: a crashed process is restarted with its NetworkPolicy
written again and its serving ports closed until ready; a hung one is killed by its liveness
probe; a container uo stopped stays stopped; and `uo up`'s supervisor process is found and
stopped by its command line."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from uo.local import commands, engine, firewall, supervisor
from uo.local.topology import LABEL, ContainerSpec, Liveness, NetworkSpec, Readiness, Security
from uo.local.wiring import Attachment

ENGINE = "unix:///var/lib/unifyops-docker/docker.sock"  # as conftest.py; for child processes

READY = "/tmp/ready"  # noqa: S108 - a file inside the throwaway test container


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)

    def having(self, text: str) -> list[str]:
        return [line for line in self if text in line]


@pytest.fixture
def supervised(
    client: docker.DockerClient, environment: str
) -> Iterator[tuple[supervisor.Supervisor, Lines]]:
    lines = Lines()
    running = supervisor.Supervisor(client, environment, lines, ready_timeout=30)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    time.sleep(0.5)  # its event stream is open
    yield running, lines
    running.stopped.set()
    thread.join(timeout=5)


def http_server(
    client: docker.DockerClient, environment: str, image: str, liveness: Liveness
) -> tuple[Container, ContainerSpec]:
    network = f"uo-{environment}-demo"
    engine.ensure_network(client, environment, NetworkSpec(network, internal=True))
    spec = ContainerSpec(
        environment,
        "demo",
        "service",
        image,
        entrypoint=("python3", "-m", "http.server", "8080"),
        serving_networks={network: Attachment(("demo-service",), (8080,))},
        readiness=Readiness("http", 8080, "/"),
        liveness=liveness,
        restart=True,
        security=Security(cap_drop=("ALL",), no_new_privileges=True),
    )
    container = engine.create(client, spec, serving_now=True)
    container.start()
    engine.enforce_policy(container, spec)
    engine.wait_ready(container, spec, 30)
    return container, spec


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def restarts(container: Container) -> int:
    container.reload()
    return int(container.attrs["RestartCount"])


def program_pid(container: Container) -> int:
    """The program under the container's init process."""
    container.reload()
    init = int(container.attrs["State"]["Pid"])
    children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
    return int(children[0])


def test_a_crashed_process_is_restarted_with_its_policy_and_served_once_ready(
    client: docker.DockerClient,
    environment: str,
    image: str,
    supervised: tuple[supervisor.Supervisor, Lines],
) -> None:
    _, lines = supervised
    container, spec = http_server(client, environment, image, Liveness("none"))
    first_pid = program_pid(container)

    os.kill(first_pid, signal.SIGKILL)  # kill -9 from the host

    eventually(lambda: restarts(container) >= 1, 20, "the engine restarts it")
    eventually(lambda: bool(lines.having("ready again")), 30, "ready and serving again")
    container.reload()
    rules = firewall.table(int(container.attrs["State"]["Pid"]))
    assert "tcp dport 8080 accept" in rules  # the serving port is open again
    assert "reject" not in rules
    assert lines.having("restarted by the engine (1 so far) after exit code 137")
    assert program_pid(container) != first_pid
    engine.wait_ready(container, spec, 5, after_restart=True)


def test_a_hung_process_is_killed_by_its_liveness_probe_and_restarted(
    client: docker.DockerClient,
    environment: str,
    image: str,
    supervised: tuple[supervisor.Supervisor, Lines],
) -> None:
    _, lines = supervised
    liveness = Liveness("http", 8080, "/", period=0.3, failures=2, timeout=0.3)
    container, _ = http_server(client, environment, image, liveness)

    os.kill(program_pid(container), signal.SIGSTOP)  # alive, but answers nothing

    eventually(lambda: restarts(container) >= 1, 30, "the hung process is restarted")
    assert len(lines.having("liveness probe failed")) >= 2
    assert lines.having("killed (liveness)")
    eventually(lambda: bool(lines.having("ready again")), 30, "ready and serving again")


def test_a_container_that_stops_being_ready_leaves_its_services_until_ready_again(
    client: docker.DockerClient,
    environment: str,
    image: str,
    supervised: tuple[supervisor.Supervisor, Lines],
) -> None:
    _, lines = supervised
    network = f"uo-{environment}-demo"
    engine.ensure_network(client, environment, NetworkSpec(network, internal=True))
    # Ready while /tmp/ready exists (http.server serves the file system from /).
    spec = ContainerSpec(
        environment,
        "demo",
        "service",
        image,
        entrypoint=("sh", "-c", f"touch {READY} && cd / && exec python3 -m http.server 8080"),
        serving_networks={network: Attachment(("demo-service",), (8080,))},
        readiness=Readiness("http", 8080, READY, period=0.3, failures=2, successes=2),
        restart=True,
    )
    container = engine.create(client, spec, serving_now=True)
    container.start()
    engine.enforce_policy(container, spec)
    engine.wait_ready(container, spec, 30)
    pid = int(container.attrs["State"]["Pid"])

    container.exec_run(["rm", READY])
    eventually(lambda: bool(lines.having("not ready")), 15, "closed while not ready")
    (line,) = lines.having("not ready")
    assert f"{READY} answered 404, 2 in a row" in line
    assert "tcp dport 8080 reject with tcp reset" in firewall.table(pid)
    assert restarts(container) == 0  # out of rotation, not restarted

    container.exec_run(["touch", READY])
    eventually(lambda: bool(lines.having("passes again")), 15, "open once ready")
    assert "tcp dport 8080 accept" in firewall.table(pid)
    assert "reject" not in firewall.table(pid)


def test_a_start_nobody_watched_is_found_and_gated_when_the_supervisor_connects(
    client: docker.DockerClient, environment: str, image: str
) -> None:
    # As after a daemon or host restart: the engine started the container again while no
    # supervisor ran, so its new network namespace has no policy at all (everything open).
    container, _ = http_server(client, environment, image, Liveness("none"))
    container.restart(timeout=1)
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    assert not supervisor.has_policy(pid)

    lines = Lines()
    running = supervisor.Supervisor(client, environment, lines, ready_timeout=30)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: bool(lines.having("ready again")), 30, "policy written, then serving")
    finally:
        running.stopped.set()
        thread.join(timeout=5)
    assert lines.having("running without its NetworkPolicy")
    rules = firewall.table(pid)
    assert "tcp dport 8080 accept" in rules
    assert "policy drop" in rules


def test_a_container_uo_stops_stays_stopped(
    client: docker.DockerClient,
    environment: str,
    image: str,
    supervised: tuple[supervisor.Supervisor, Lines],
) -> None:
    _, lines = supervised
    container, _ = http_server(client, environment, image, Liveness("none"))
    container.stop(timeout=5)
    time.sleep(2)
    container.reload()
    assert container.status == "exited"
    assert not lines.having("restarted")


def test_a_new_version_that_crashes_fails_fast_despite_the_restart_policy(
    client: docker.DockerClient, environment: str, image: str
) -> None:
    spec = ContainerSpec(
        environment,
        "demo",
        "api",
        image,
        entrypoint=("python3", "-c", "print('no secret configured'); raise SystemExit(3)"),
        serving_networks={f"uo-{environment}-crash": Attachment(("demo-api",), (8080,))},
        readiness=Readiness("http", 8080, "/"),
        restart=True,
    )
    engine.ensure_network(
        client, environment, NetworkSpec(f"uo-{environment}-crash", internal=True)
    )
    container = engine.create(client, spec, serving_now=True)
    container.start()
    started = time.monotonic()
    with pytest.raises(engine.NotReadyError, match="exited") as failed:
        engine.wait_ready(container, spec, 60)
    assert "no secret configured" in str(failed.value)  # the reason, from its log
    assert time.monotonic() - started < 30  # not the whole readiness timeout


def test_the_supervisor_process_is_started_found_and_stopped(
    client: docker.DockerClient,
    environment: str,
    image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UO_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", os.environ.get("DOCKER_HOST") or ENGINE)  # the child's
    # A test runner's import path can hold entries relative to its sandbox (Pants' does).
    source_root = Path(supervisor.__file__).resolve().parents[2]
    monkeypatch.chdir(source_root)
    monkeypatch.setattr(
        sys, "path", [".", *(p for p in sys.path if Path(p or ".").resolve() != source_root)]
    )
    http_server(client, environment, image, Liveness("none"))  # something to supervise
    assert commands.unsupervised({environment}) == [environment]  # `uo status` warns
    log = supervisor.ensure(environment)
    try:
        eventually(lambda: len(supervisor.running(environment)) == 1, 10, "one supervisor")
        assert commands.unsupervised({environment}) == []
        eventually(lambda: log.exists() and "supervising" in log.read_text(), 20, "its log")
        first = supervisor.running(environment)
        supervisor.ensure(environment)  # `uo up` again: replaced, never two
        eventually(lambda: len(supervisor.running(environment)) == 1, 10, "one supervisor")
        assert supervisor.running(environment) != first
    finally:
        supervisor.stop(environment)
    assert supervisor.running(environment) == []


def test_the_spec_label_round_trips_without_the_env() -> None:
    spec = ContainerSpec(
        "test",
        "user",
        "api",
        "img",
        entrypoint=("/app/venv/pex",),
        env={"UO_CLIENT_SECRET": "s3cret"},
        client_networks={"n1": Attachment((), (8001,))},
        serving_networks={"n2": Attachment(("user-api",), (8002,))},
        ports={8002: 18102},
        tmpfs=("/tmp",),  # noqa: S108 - a spec value, not a path used here
        readiness=Readiness("http", 8002, "/health/ready"),
        liveness=Liveness("http", 8002, "/health/live", period=10, failures=3),
        security=Security("10001:10001", ("10001",), True, ("ALL",), True),
        restart=True,
    )
    label = spec.labels()[f"{LABEL}.spec"]
    assert "s3cret" not in label
    assert ContainerSpec.from_label(label) == ContainerSpec(**{**spec.__dict__, "env": {}})


def test_a_supervisor_that_cannot_start_is_reported_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UO_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(supervisor.SupervisorError, match="exited with code 1") as failed:
        supervisor.ensure("svbroken")
    assert "no Docker engine answers" in str(failed.value)


def test_a_probe_of_a_container_stopped_or_removed_meanwhile_fails_not_the_supervisor(
    client: docker.DockerClient, environment: str, image: str
) -> None:
    """A fault test stopped auth-api between the supervisor's listing and its probe; the probe
    raised and the supervisor process died, leaving every later restart unwatched."""
    container, spec = http_server(client, environment, image, Liveness("none"))
    assert supervisor.probe(container, spec.readiness) is None
    container.stop(timeout=2)
    stopped = supervisor.probe(container, spec.readiness)
    assert stopped is not None
    assert "has no IP address" in stopped
    container.remove(force=True)
    removed = supervisor.probe(container, spec.readiness)
    assert removed is not None
    assert removed.startswith("/:")
