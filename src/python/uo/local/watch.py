"""`uo up --watch`: keep a running environment converged, as Argo CD's self-heal keeps a cluster.

After `uo up` converged, the watcher looks every ``interval`` seconds for two kinds of drift, both
cheap to see without rendering anything:

- **by hand on the engine**: a workload container that was stopped, removed, paused, or taken off
  one of its networks (or one that nobody started) since the last converge;
- **in the desired state**: a file under ``infra/`` or the chart changed — a new infra commit, a
  `git revert`, an edited values file.

Either one runs the reconciler again (the same one `uo up` runs, so only what differs is touched,
with the same readiness-gated rollout) and reports what drifted and what it did. Every ``resync``
seconds it reconciles anyway, quietly unless something changed, for drift the engine's view
cannot show. A converge that fails is reported and tried again at the next interval; what runs
keeps running. A crashed process is not drift: the engine's restart policy and the supervisor
handle it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

from uo.local import engine, reconcile, supervisor
from uo.local.topology import LABEL

Report = Callable[[str], None]
# What the desired state is made of: the values and overlays (infra/) and the chart itself.
DESIRED_STATE_DIRS = ("infra", "src/charts")
# A converged container in these states is drift; "restarting" is the engine's restart policy
# at work (a crash), which the supervisor follows.
STOPPED_STATES = ("exited", "dead", "created", "paused")


def is_workload(tier: str) -> bool:
    """A container that should keep running (not a completed hook, not the secrets record)."""
    return tier not in ("secrets", "migrate") and not tier.startswith("register-")


@dataclass(frozen=True)
class Observed:
    name: str
    status: str
    networks: frozenset[str]


Snapshot = dict[str, Observed]  # container id -> what it looked like


def snapshot(client: docker.DockerClient, environment: str) -> Snapshot:
    """The environment's workload containers as the engine shows them now."""
    seen: Snapshot = {}
    for container in engine.containers(client, environment):
        if not is_workload(container.labels.get(f"{LABEL}.tier", "")):
            continue
        networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        seen[container.id] = Observed(container.name, container.status, frozenset(networks))
    return seen


def drift(converged: Snapshot, now: Snapshot) -> list[str]:
    """What changed on the engine since the last converge, one line per container."""
    found = []
    for container_id, before in sorted(converged.items(), key=lambda item: item[1].name):
        after = now.get(container_id)
        if after is None:
            found.append(f"{before.name} was removed")
        elif after.status in STOPPED_STATES:
            found.append(f"{before.name} is {after.status}")
        elif after.networks != before.networks:
            lost = sorted(before.networks - after.networks)
            gained = sorted(after.networks - before.networks)
            change = "; ".join(
                part
                for part in (
                    f"left {', '.join(lost)}" if lost else "",
                    f"joined {', '.join(gained)}" if gained else "",
                )
                if part
            )
            found.append(f"{before.name} {change}")
    for container_id, after in sorted(now.items(), key=lambda item: item[1].name):
        if container_id not in converged:
            found.append(f"{after.name} was started outside uo up")
    return found


def desired_state_digest(repo: Path) -> str:
    """One hash of every file the rendered chart depends on (paths and contents): it changes
    with a new infra commit, a revert, or an edit of the working tree."""
    digest = hashlib.sha256()
    for folder in DESIRED_STATE_DIRS:
        root = repo / folder
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(repo)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class Watcher:
    """Converge ``plan`` whenever the engine or the desired state drifts (see the module)."""

    def __init__(
        self,
        client: docker.DockerClient,
        plan: reconcile.Plan,
        report: Report,
        *,
        interval: float = 10.0,
        resync: float = 300.0,
    ) -> None:
        self.client = client
        self.plan = plan
        self.report = report
        self.interval = interval
        self.resync = resync
        self.converged = snapshot(client, plan.environment)
        self.desired = desired_state_digest(Path(plan.repo))
        self.last_converge = time.monotonic()

    def _say(self, text: str) -> None:
        self.report(f"[{self.plan.environment}] {time.strftime('%H:%M:%S')} {text}")

    def reasons(self, desired: str) -> list[str]:
        """Why to converge now (empty: nothing drifted); ``desired``: the desired state's digest."""
        found = drift(self.converged, snapshot(self.client, self.plan.environment))
        if desired != self.desired:
            found.append("the desired state changed (infra/ or the chart)")
        return found

    def cycle(self) -> list[str] | None:
        """Look once; converge when something drifted or a resync is due. Returns the changes
        made (empty: converged, nothing to do), or None when the converge failed."""
        desired = desired_state_digest(Path(self.plan.repo))
        found = self.reasons(desired)
        due = time.monotonic() - self.last_converge >= self.resync
        if not found and not due:
            return []
        for reason in found:
            self._say(f"drift: {reason}")
        try:
            outcome = reconcile.Reconciler(self.client, self.plan, self.report).run()
        except reconcile.RolloutError as exc:
            self._say(f"converge failed, what runs keeps running; next try in {self.interval:g}s")
            self.report(f"  {exc}")
            return None
        self.converged = snapshot(self.client, self.plan.environment)
        self.desired = desired
        self.last_converge = time.monotonic()
        if outcome.changed or not supervisor.running(self.plan.environment):
            reconcile.supervise(self.plan.environment, self.report)
        if outcome.changed:
            self._say(f"converged: {', '.join(outcome.changes)}")
        elif found:
            self._say("converged: nothing needed changing")
        return outcome.changes

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set (a test) or the process is interrupted (Ctrl-C)."""
        while not stop.wait(self.interval):
            self.cycle()


# -- one watcher per environment, and `uo down` stops it ------------------------------------
# Otherwise a `uo down` in another terminal would be undone: its removals are drift.


class AlreadyWatchedError(Exception):
    """Another live `uo up --watch` keeps this environment converged."""


def _registration(environment: str) -> Path:
    return supervisor.cache_dir() / "watch" / f"{environment}.pid"


def _started(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): a pid the kernel reuses differs in it.
    None for no process, and for one that exited and waits for its parent (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields 3.. of stat, after the command's name
    return None if fields[0] == "Z" else fields[19]


def watcher_pid(environment: str) -> int | None:
    """The process watching ``environment`` now (a registration whose process is gone is none)."""
    try:
        pid_text, started = _registration(environment).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _started(pid) == started else None


@contextlib.contextmanager
def registered(environment: str) -> Iterator[None]:
    """This process is the environment's watcher while the block runs."""
    other = watcher_pid(environment)
    if other is not None and other != os.getpid():
        raise AlreadyWatchedError(
            f"{environment} is already watched by process {other} (another `uo up --watch`)"
        )
    path = _registration(environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()} {_started(os.getpid())}\n")
    try:
        yield
    finally:
        if watcher_pid(environment) == os.getpid():
            path.unlink()


def watched() -> dict[str, int]:
    """Every environment a live `uo up --watch` keeps converged -> its process."""
    found = {}
    for registration in sorted((supervisor.cache_dir() / "watch").glob("*.pid")):
        pid = watcher_pid(registration.stem)
        if pid is not None:
            found[registration.stem] = pid
    return found


def stop_watcher(environment: str, report: Report, timeout: float = 60.0) -> bool:
    """Ask the environment's watcher to stop (SIGTERM: it finishes a converge under way) and wait
    for it; True if there was one."""
    pid = watcher_pid(environment)
    if pid is None or pid == os.getpid():
        return False
    report(f"[{environment}] stopping its watcher (process {pid}, `uo up --watch`)")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _started(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if _started(pid) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # stuck: what it was doing is being removed anyway
    return True


__all__ = [
    "AlreadyWatchedError",
    "Observed",
    "Watcher",
    "desired_state_digest",
    "drift",
    "is_workload",
    "registered",
    "snapshot",
    "stop_watcher",
    "watched",
    "watcher_pid",
]
