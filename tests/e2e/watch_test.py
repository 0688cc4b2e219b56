"""`uo up --watch` heals what an operator broke by hand: a service stopped and an app removed on
the engine are back, serving through the edge, within one look of the watcher (the loop `uo up
--watch` runs after its first converge), and nothing else of the environment was touched."""

from __future__ import annotations

import threading
import time

import httpx

from e2e.environment import Running
from uo.local import watch

INTERVAL = 2.0


def test_watch_restores_containers_stopped_or_removed_by_hand(running: Running) -> None:
    environment = running.plan.environment
    stopped = running.container("user", "service")
    removed = running.container("environment", "app")
    bystanders = {
        (stack, tier): running.container(stack, tier).id
        for stack, tier in (("user", "api"), ("user", "database"), ("auth", "service"))
    }
    lines: list[str] = []
    watcher = watch.Watcher(running.client, running.plan, lines.append, interval=INTERVAL)
    stop = threading.Event()
    looking = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    # Both broken before the watcher looks: a look between the stop (which waits out the grace
    # period) and the removal converged on the first alone and ended the wait (a CI run did).
    stopped.stop(timeout=10)
    removed.remove(force=True)
    looking.start()
    try:
        broken_at = time.monotonic()
        deadline = broken_at + INTERVAL + 2 * running.plan.ready_timeout
        while not any("converged:" in line for line in lines):
            assert looking.is_alive(), lines
            assert time.monotonic() < deadline, "\n".join(lines)
            time.sleep(0.2)
    finally:
        stop.set()
        looking.join(timeout=30)

    assert any(f"drift: {stopped.name} is exited" in line for line in lines), lines
    assert any(f"drift: {removed.name} was removed" in line for line in lines), lines
    converged = next(line for line in lines if "converged:" in line)
    assert "user-service restored" in converged
    assert "environment-app created" in converged
    # Back and serving, each as the one replica of its tier.
    assert running.container("user", "service").id != stopped.id
    assert running.container("environment", "app").id != removed.id
    assert running.container("user", "service").name == stopped.name  # the same version
    ready = httpx.get(running.url("user-api", "/health/ready"), timeout=10)
    assert ready.status_code == 200, ready.text
    page = httpx.get(running.url("environment-app", "/"), timeout=10)
    assert page.status_code == 200
    # Nothing else was replaced.
    for (stack, tier), container_id in bystanders.items():
        assert running.container(stack, tier).id == container_id, f"{stack}-{tier} was replaced"
    assert watch.drift(watcher.converged, watch.snapshot(running.client, environment)) == []
