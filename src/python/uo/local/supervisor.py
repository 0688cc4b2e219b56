"""What a kubelet does after a pod started, for one environment on one Docker engine.

`uo up` reconciles and exits; a running environment still needs someone to notice faults. The
engine's restart policy (set from the pod's restartPolicy, uo.local.engine) starts a process that
exited again, and this supervisor, a small process `uo up` leaves running per environment, does
the rest of the kubelet's job:

- **policy after a restart**: a restarted container gets a new network namespace without the
  NetworkPolicy rules; the supervisor writes them again as soon as the engine reports the start
  (or, for a start nobody saw — the engine restarted while the supervisor was away, or before it
  ran — as soon as it connects to the engine and finds a namespace without them),
  with the serving ports closed (new connections reset, callers fail fast or try another replica)
  until the readiness probe passes — a restarted pod is out of its Services' endpoints until
  ready. The same happens when a container joins a network again.
- **liveness**: the rendered liveness probe runs every ``periodSeconds``; after
  ``failureThreshold`` misses in a row the container's process is killed, and the restart
  policy starts it again (a hung process is restarted like a crashed one).
- **readiness, all the time**: the rendered readiness probe keeps running after the start; after
  ``failureThreshold`` misses in a row the container's serving ports are closed (new connections
  reset, established ones finish: what leaving a Service's endpoints does), and after
  ``successThreshold`` passes they open again. A service whose database is gone is out of
  rotation until it can serve, without a restart.

It keeps no state of its own: what to enforce and probe is read from the container's labels
(``ContainerSpec.to_label``). It exits by itself once its environment has no containers left, and
`uo up`/`uo down` replace or stop it; its log is ``<cache>/supervisor/<environment>.log``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
from docker.models.containers import Container

from uo.local import engine, firewall
from uo.local.topology import LABEL, ContainerSpec, Liveness, Readiness

MODULE = "uo.local.supervisor"
IDLE_EXIT_SECONDS = 30.0
Report = Callable[[str], None]


def cache_dir() -> Path:
    """Where uo keeps what outlives a command (supervisor logs, watcher registrations)."""
    return Path(os.environ.get("UO_CACHE_DIR") or str(Path.home() / ".cache" / "unifyops"))


def log_path(environment: str) -> Path:
    return cache_dir() / "supervisor" / f"{environment}.log"


# -- the process ---------------------------------------------------------------------------


def running(environment: str) -> list[int]:
    """Pids of this environment's supervisors (found by their command line: no pid files)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it exited meanwhile
        words = [word.decode(errors="replace") for word in argv if word]
        if MODULE in words and words[-1:] == [environment] and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def stop(environment: str, timeout: float = 5.0) -> None:
    pids = running(environment)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


class SupervisorError(Exception):
    """The supervisor process did not start; carries the end of its log."""


def ensure(environment: str, timeout: float = 15.0) -> Path:
    """Replace the environment's supervisor with one of this code; returns its log's path once
    it runs (SupervisorError with the end of its log when it does not).

    Started with this process's interpreter and import path (made absolute: a test runner's
    entries can be relative to its sandbox), in a session of its own so it outlives `uo up`
    (and a terminal's hang-up)."""
    stop(environment)
    log = log_path(environment)
    log.parent.mkdir(parents=True, exist_ok=True)
    search = [os.path.abspath(entry) for entry in sys.path if entry]
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(search)}
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", MODULE, environment],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
    started = f"supervising {environment} (pid {child.pid})"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log.open("rb") as text:
            text.seek(offset)
            written = text.read().decode(errors="replace")
        if started in written:
            return log
        if child.poll() is not None:
            tail = " | ".join(written.strip().splitlines()[-3:])
            raise SupervisorError(f"exited with code {child.returncode}: {tail} (log: {log})")
        time.sleep(0.05)
    raise SupervisorError(f"no sign of life within {timeout:.0f}s (log: {log})")


# -- what it does ----------------------------------------------------------------------------


def spec_of(container: Container) -> ContainerSpec | None:
    text = (container.labels or {}).get(f"{LABEL}.spec")
    return ContainerSpec.from_label(text) if text else None


def finished_before(container: Container) -> bool:
    """Its process ended at least once: this start is a restart, not `uo up`'s first start."""
    finished = str(container.attrs["State"].get("FinishedAt") or "")
    return bool(finished) and not finished.startswith("0001-")


def probe(container: Container, check: Liveness | Readiness) -> str | None:
    """None when it passes, else why not (the kubelet's view: HTTP from the host, exec inside)."""
    if check.kind == "http":
        try:
            host = engine.address(container)
        except (engine.EngineError, docker.errors.NotFound) as exc:
            # Stopped, removed or off its networks between the listing and the probe (a fault
            # test stopping auth-api did this): a failed probe, never the supervisor's end.
            return f"{check.path}: {exc}"
        url = f"http://{host}:{check.port}{check.path}"
        try:
            response = httpx.get(url, timeout=check.timeout)
        except httpx.HTTPError as exc:
            return f"{check.path}: {type(exc).__name__}"
        ok = 200 <= response.status_code < 400
        return None if ok else f"{check.path} answered {response.status_code}"
    if check.kind == "exec":
        try:
            result = container.exec_run(list(check.command))
        except docker.errors.APIError as exc:
            return f"exec: {exc.explanation or exc}"
        return None if result.exit_code == 0 else f"exited {result.exit_code}"
    return None


def has_policy(pid: int) -> bool:
    try:
        firewall.table(pid)
    except firewall.FirewallError:
        return False
    return True


@dataclass
class _Probed:
    due: float
    misses: int = 0
    passes: int = 0  # readiness: passes in a row while out of its Services


@dataclass
class Supervisor:
    client: docker.DockerClient
    environment: str
    report: Report
    ready_timeout: float = 120.0
    probed: dict[str, _Probed] = field(default_factory=dict)
    readied: dict[str, _Probed] = field(default_factory=dict)
    gating: set[str] = field(default_factory=set)
    unready: set[str] = field(default_factory=set)  # serving ports closed until ready again
    exits: dict[str, str] = field(default_factory=dict)  # container id -> its last exit code
    stopped: threading.Event = field(default_factory=threading.Event)

    def _say(self, container: Container, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.report(f"{stamp} [{self.environment}] {container.name}: {text}")

    def _ours(self, container_id: str) -> tuple[Container, ContainerSpec] | None:
        try:
            container = self.client.containers.get(container_id)
        except docker.errors.NotFound:
            return None
        if (container.labels or {}).get(f"{LABEL}.environment") != self.environment:
            return None
        spec = spec_of(container)
        if spec is None or not spec.restart or container.status != "running":
            return None
        if str(container.attrs["HostConfig"].get("NetworkMode", "")).startswith("container:"):
            # A sidecar in another container's network namespace (the log reader beside
            # Prometheus): the policy is that container's, and writing its own would replace it.
            return None
        return container, spec

    # -- events: starts and network joins --------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        if event.get("Type") == "container" and event.get("Action") == "die":
            attributes = actor.get("Attributes") or {}
            self.exits[str(actor.get("ID", ""))] = str(attributes.get("exitCode", "?"))
        elif event.get("Type") == "container" and event.get("Action") == "start":
            found = self._ours(str(actor.get("ID", "")))
            if found and finished_before(found[0]):
                self.probed.pop(found[0].id, None)
                self.readied.pop(found[0].id, None)
                self.unready.discard(found[0].id)
                threading.Thread(target=self.gate, args=found, daemon=True).start()
        elif event.get("Type") == "network" and event.get("Action") == "connect":
            found = self._ours(str((actor.get("Attributes") or {}).get("container", "")))
            if found and found[0].id not in self.gating:
                self._enforce(*found, closing=found[0].id in self.unready)

    def _enforce(self, container: Container, spec: ContainerSpec, *, closing: bool) -> bool:
        try:
            engine.enforce_policy(container, spec, closing=closing)
        except (firewall.FirewallError, docker.errors.APIError) as exc:
            self._say(container, f"NetworkPolicy not written: {exc}")
            return False
        return True

    def gate(self, container: Container, spec: ContainerSpec, why: str = "") -> None:
        """A restarted container: policy first (serving closed), open once ready."""
        self.gating.add(container.id)
        try:
            if not why:
                code = self.exits.pop(container.id, "?")
                restarts = int(container.attrs.get("RestartCount") or 0)
                # The engine counts its own restarts; a start by hand (docker start) is not one.
                how = "started again"
                if restarts:
                    how = f"restarted by the engine ({restarts} so far)"
                why = f"{how} after exit code {code}"
            self._say(container, f"{why}; policy re-applied, serving once ready")
            if not self._enforce(container, spec, closing=bool(spec.serving_networks)):
                return
            try:
                seconds = engine.wait_ready(container, spec, self.ready_timeout, after_restart=True)
            except (engine.NotReadyError, engine.EngineError, docker.errors.APIError) as exc:
                self._say(container, f"not ready after the restart: {str(exc).splitlines()[0]}")
                return
            if self._enforce(container, spec, closing=False):
                self._say(container, f"ready again in {seconds:.1f}s, serving")
        finally:
            self.gating.discard(container.id)

    def resync(self) -> None:
        """What happened while nobody watched (before this supervisor started, or while the
        engine was restarting): a running container whose network namespace holds no policy was
        started by the engine unseen, e.g. after a daemon or host restart. It is gated like a
        restart: policy with serving closed, then open once ready."""
        for listed in engine.containers(self.client, self.environment):
            found = self._ours(listed.id)
            if found is None or found[0].id in self.gating:
                continue
            container, spec = found
            pid = int(container.attrs["State"].get("Pid") or 0)
            if pid and not has_policy(pid):
                why = "running without its NetworkPolicy (started while no supervisor watched)"
                threading.Thread(target=self.gate, args=(container, spec, why), daemon=True).start()

    def watch_events(self) -> None:
        while not self.stopped.is_set():
            try:
                stream = self.client.events(
                    decode=True,
                    filters={
                        "type": ["container", "network"],
                        "event": ["die", "start", "connect"],
                    },
                )
                # The stream is open: a start from now on is an event, one before it is resynced.
                self.resync()
                for event in stream:
                    self.on_event(event)
            except Exception as exc:
                self.report(f"events: {type(exc).__name__}: {exc}; reconnecting")
                time.sleep(1)

    # -- liveness ------------------------------------------------------------------------------

    def probe_due(self, now: float) -> None:
        for container in engine.containers(self.client, self.environment):
            spec = spec_of(container) if container.status == "running" else None
            if spec is None or spec.liveness.kind == "none" or container.id in self.gating:
                continue
            state = self.probed.setdefault(container.id, _Probed(now + spec.liveness.period))
            if now < state.due:
                continue
            state.due = now + spec.liveness.period
            problem = probe(container, spec.liveness)
            if problem is None:
                state.misses = 0
                continue
            state.misses += 1
            self._say(
                container,
                f"liveness probe failed ({problem}), {state.misses}/{spec.liveness.failures}",
            )
            if state.misses >= spec.liveness.failures:
                self.kill(container)
                self.probed.pop(container.id, None)

    # -- readiness while running ------------------------------------------------------------

    def readiness_due(self, now: float) -> None:
        for container in engine.containers(self.client, self.environment):
            spec = spec_of(container) if container.status == "running" else None
            if (
                spec is None
                or not spec.restart
                or not spec.serving_networks
                or spec.readiness.kind not in ("http", "exec")
                or container.id in self.gating
            ):
                continue
            state = self.readied.setdefault(container.id, _Probed(now + spec.readiness.period))
            if now < state.due:
                continue
            state.due = now + spec.readiness.period
            self.note_readiness(container, spec, state, probe(container, spec.readiness))

    def note_readiness(
        self, container: Container, spec: ContainerSpec, state: _Probed, problem: str | None
    ) -> None:
        check = spec.readiness
        if problem is None:
            state.misses = 0
            if container.id not in self.unready:
                return
            state.passes += 1
            if state.passes >= check.successes and self._enforce(container, spec, closing=False):
                self.unready.discard(container.id)
                self._say(container, "readiness probe passes again: serving")
            return
        state.passes = 0
        if container.id in self.unready:
            return
        state.misses += 1
        if state.misses >= check.failures and self._enforce(container, spec, closing=True):
            self.unready.add(container.id)
            self._say(
                container,
                f"not ready ({problem}, {state.misses} in a row): out of its Services, "
                "new connections refused until it is ready",
            )

    def kill(self, container: Container) -> None:
        """SIGKILL its process from the host, like a crash: the restart policy applies (a kill
        through the engine's API would count as stopped by hand and stay stopped)."""
        container.reload()
        pid = int(container.attrs["State"].get("Pid") or 0)
        if pid:
            self._say(container, "killed (liveness); the engine restarts it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def run(self) -> None:
        threading.Thread(target=self.watch_events, daemon=True).start()
        self.report(f"supervising {self.environment} (pid {os.getpid()})")
        idle_since: float | None = None
        while not self.stopped.is_set():
            now = time.monotonic()
            try:
                if engine.containers(self.client, self.environment):
                    idle_since = None
                    self.probe_due(now)
                    self.readiness_due(now)
                elif idle_since is None:
                    idle_since = now
                elif now - idle_since > IDLE_EXIT_SECONDS:
                    self.report(f"{self.environment} has no containers left; exiting")
                    return
            except (
                docker.errors.DockerException,
                httpx.HTTPError,
                OSError,
                engine.EngineError,
            ) as exc:
                # One look failed (a container changed under it); the next one starts afresh.
                self.report(f"engine: {type(exc).__name__}: {exc}")
            self.stopped.wait(0.5)


def main(argv: list[str] | None = None) -> int:
    (environment,) = argv if argv is not None else sys.argv[1:]

    def report(line: str) -> None:
        print(line, flush=True)

    try:
        client = engine.connect()
    except engine.EngineError as exc:
        report(f"supervisor of {environment}: {exc}")
        return 1
    Supervisor(client, environment, report).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "MODULE",
    "Supervisor",
    "SupervisorError",
    "ensure",
    "log_path",
    "probe",
    "running",
    "spec_of",
    "stop",
]
