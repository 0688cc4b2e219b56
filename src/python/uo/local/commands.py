"""`uo up`, `uo down`, `uo logs` and the running half of `uo status` (argument parsing lives in
uo.cli; these take plain values and print for a person)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import docker
import docker.errors

from uo.local import (
    engine,
    logsearch,
    monitoring,
    reconcile,
    sources,
    supervisor,
    topology,
    watch,
)
from uo.local.topology import ENVIRONMENT_INDEX, LABEL, StackImages

# Environments built from the working tree; the others run what infra/environments records.
# ``test`` is a second one beside ``local`` (the e2e suite's), so a run there leaves local alone.
WORKING_TREE_ENVIRONMENTS = ("local", "test")

EXIT_OK, EXIT_FAILURE = 0, 1


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_up(
    repo: Path,
    environment: str,
    stacks: list[str] | None,
    registry: str,
    ready_timeout: float,
    watch_interval: float | None = None,
    images_from: Path | None = None,
) -> int:
    """Converge once; with ``watch_interval``, keep converging until Ctrl-C (uo.local.watch).
    ``images_from``: run the images Pants' docker-info files there name, building nothing."""
    started = time.monotonic()
    chosen = sources.stacks_or_all(stacks)
    watching = watch.watcher_pid(environment)
    if watch_interval is not None and watching is not None:
        print(
            f"uo up: {environment} is already watched by process {watching} (another "
            "`uo up --watch`); stop that one first",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    client = engine.connect()

    dist = images_from or repo / "dist"

    def working_tree(stacks: list[str]) -> tuple[dict[str, StackImages], str]:
        if images_from is not None:
            progress(f"[{environment}] the images built before, as {images_from} names them")
            return sources.from_dist(images_from, stacks)
        return sources.build_working_tree(repo, stacks, progress, client)

    if environment in WORKING_TREE_ENVIRONMENTS:
        images, edge_image = working_tree(chosen)
        plan = reconcile.Plan(
            environment,
            images,
            edge_image,
            repo=str(repo),
            ready_timeout=ready_timeout,
            prometheus_image=sources.prometheus_image(dist),
            logs_image=sources.logs_image(dist),
        )
    else:
        # What infra/environments/<env> records; the reconciler pulls what the engine lacks.
        _, edge_image = working_tree([])
        plan = reconcile.Plan(
            environment,
            None,
            edge_image,
            repo=str(repo),
            stacks=tuple(chosen),
            registry=registry,
            ready_timeout=ready_timeout,
            prometheus_image=sources.prometheus_image(dist),
            logs_image=sources.logs_image(dist),
        )
    try:
        outcome = reconcile.up(client, plan, progress)
    except reconcile.RolloutError as exc:
        print(f"uo up: {environment}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    seconds = time.monotonic() - started
    summary = ", ".join(outcome.changes) if outcome.changed else "nothing changed"
    print(f"{environment} is up in {seconds:.0f}s ({summary})")
    for name, url in outcome.urls.items():
        print(f"  {name:<18} {url}")
    if outcome.login:
        print(f"  login              {outcome.login[0]} / {outcome.login[1]}")
    if watch_interval is None:
        return EXIT_OK
    return keep_converged(client, plan, watch_interval)


def keep_converged(client: docker.DockerClient, plan: reconcile.Plan, interval: float) -> int:
    """`uo up --watch`: converge on drift until Ctrl-C; what runs keeps running after."""
    scope = "infra/ and the chart" if plan.images is None else "the chart and its values"
    print(
        f"watching {plan.environment} every {interval:g}s: containers changed by hand and "
        f"{scope} (Ctrl-C stops watching; the environment keeps running)",
        flush=True,
    )
    if plan.images is not None:
        print("  code changes are not rebuilt while watching: run ./uo up again for those")
    watcher = watch.Watcher(client, plan, lambda line: print(line, flush=True), interval=interval)
    taken_down = threading.Event()  # `uo down` sends SIGTERM (watch.stop_watcher)
    previous = signal.signal(signal.SIGTERM, lambda *_: taken_down.set())
    try:
        with watch.registered(plan.environment):
            watcher.run(taken_down)
    except watch.AlreadyWatchedError as exc:
        print(f"uo up: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"\nstopped watching {plan.environment}; it keeps running (./uo down to stop it)")
    finally:
        signal.signal(signal.SIGTERM, previous)
    if taken_down.is_set():
        print(f"{plan.environment} is being taken down (uo down); stopped watching")
    return EXIT_OK


def run_down(environment: str, volumes: bool) -> int:
    client = engine.connect()
    watch.stop_watcher(environment, progress)  # or it would converge what is being removed
    removed = reconcile.down(client, environment, volumes=volumes, report=progress)
    kept = "" if volumes else " (data and secrets kept; --volumes removes them)"
    print(f"{environment}: {removed} containers removed{kept}")
    return EXIT_OK


def running_rows(client: docker.DockerClient) -> list[tuple[str, ...]]:
    rows = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}.environment"}):
        labels = container.labels
        tier = labels.get(f"{LABEL}.tier", "")
        if not watch.is_workload(tier):
            continue  # records, not workloads
        environment, stack = (
            labels.get(f"{LABEL}.environment", ""),
            labels.get(f"{LABEL}.stack", ""),
        )
        url = ""
        if tier in ("api", "app") and environment in ENVIRONMENT_INDEX:
            url = f"http://127.0.0.1:{topology.host_port(environment, stack, tier)}"
        elif tier == monitoring.PROMETHEUS and environment in ENVIRONMENT_INDEX:
            url = f"http://127.0.0.1:{monitoring.host_port(environment)}"
        image = (container.image.tags or [container.image.short_id])[0] if container.image else ""
        state = container.status
        restarted = int(container.attrs.get("RestartCount") or 0)
        if restarted:
            state += f" ({restarted} restarts)"  # by the engine; see the supervisor's log
        rows.append((environment, stack, tier, state, image.rsplit("/", 1)[-1][:48], url))
    return sorted(rows)


def drift_lines(
    client: docker.DockerClient, desired: Mapping[tuple[str, str, str], str]
) -> list[str]:
    """What runs here but differs from what should: a workload container that is not running,
    or one whose image (by registry digest) is not the digest infra/ records for it.
    ``desired``: (environment, stack, tier) -> digest. An image nobody pulled (built here, or
    rebuilt from its recorded commit) has no registry digest and is not compared."""
    found = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}.environment"}):
        labels = container.labels
        environment, stack, tier = (
            labels.get(f"{LABEL}.{key}", "") for key in ("environment", "stack", "tier")
        )
        if not watch.is_workload(tier):
            continue
        where = f"{environment}/{stack}-{tier}"
        if container.status in watch.STOPPED_STATES:
            found.append(f"{where} is {container.status} ({container.name})")
            continue
        recorded = desired.get((environment, stack, tier), "-")
        try:
            image = container.image
        except docker.errors.ImageNotFound:
            image = None  # removed since: nothing to compare
        pulled = (image.attrs.get("RepoDigests") or []) if image else []
        digests = sorted({reference.split("@", 1)[1] for reference in pulled if "@" in reference})
        if recorded != "-" and digests and recorded not in digests:
            found.append(f"{where} runs {digests[0][:19]}…, infra/ records {recorded[:19]}…")
    return sorted(found)


def print_running(desired: Mapping[tuple[str, str, str], str] | None = None) -> None:
    """What runs on this machine's engine, if one answers, and where it drifted from
    ``desired`` ((environment, stack, tier) -> recorded digest)."""
    try:
        client = docker.from_env(timeout=5)
        rows = running_rows(client)
        drifted = drift_lines(client, desired or {})
    except docker.errors.DockerException:
        print("\nrunning here: no Docker engine answers at $DOCKER_HOST")
        return
    print("\nrunning here (uo up):" if rows else "\nrunning here: nothing (start with ./uo up)")
    _table(("ENV", "STACK", "TIER", "STATE", "IMAGE", "URL"), rows)
    if drifted:
        print("\ndrift (./uo up --env ENV converges it; with --watch it stays converged):")
        for line in drifted:
            print(f"  {line}")
    for environment, pid in watch.watched().items():
        # Why a container stopped by hand comes back by itself.
        print(f"{environment} is kept converged by `uo up --watch` (process {pid})")
    for environment in unsupervised({row[0] for row in rows}):
        # Restarts would come back without their NetworkPolicy and nothing would probe them.
        print(
            f"warning: {environment} has no supervisor (restarts, probes, policies after a "
            f"restart); `./uo up --env {environment}` starts it again"
        )


def unsupervised(environments: set[str]) -> list[str]:
    return sorted(e for e in environments if not supervisor.running(e))


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def run_logs(
    environment: str,
    stack: str | None,
    tier: str | None,
    tail: int,
    follow: bool,
    since: datetime | None = None,
    min_level: str | None = None,
    error_id: str | None = None,
) -> int:
    """Print the log of every container of ``environment`` (or of one stack, or one tier)."""
    found = logsearch.environment_sources(engine.connect(), environment, stack, tier)
    if not found:
        what = "-".join(filter(None, (stack, tier))) or "container"
        print(f"uo logs: no {what} in {environment} (see ./uo status)", file=sys.stderr)
        return EXIT_FAILURE
    if follow:
        logsearch.follow(found, since=since, tail=tail, min_level=min_level, error_id=error_id)
    else:
        logsearch.print_lines(found, since=since, tail=tail, min_level=min_level, error_id=error_id)
    return EXIT_OK


__all__ = [
    "drift_lines",
    "keep_converged",
    "print_running",
    "run_down",
    "run_logs",
    "run_up",
    "running_rows",
]
