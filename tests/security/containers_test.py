"""From inside every running container of the environment: what a process that got code execution
there could do to the container itself."""

from __future__ import annotations

import pytest
from docker.models.containers import Container

from e2e.environment import Running
from uo.local import engine


def containers(running: Running) -> list[Container]:
    found = [
        c
        for c in engine.containers(running.client, running.plan.environment)
        if c.status == "running"
    ]
    assert len(found) >= 13, [c.name for c in found]  # 3 stacks x 4 tiers + the edge
    return found


def test_every_process_runs_without_capabilities_or_new_privileges(running: Running) -> None:
    for container in containers(running):
        status = container.exec_run(["cat", "/proc/1/status"])
        assert status.exit_code == 0, (container.name, status.output)
        fields = dict(
            line.split(":", 1) for line in status.output.decode().splitlines() if ":" in line
        )
        assert fields["CapEff"].strip() == "0" * 16, container.name
        assert fields["CapBnd"].strip() == "0" * 16, container.name
        assert fields["NoNewPrivs"].strip() == "1", container.name
        uid = fields["Uid"].split()
        assert uid[0] != "0", container.name


@pytest.mark.parametrize("path", ["/probe", "/app/probe", "/etc/probe", "/usr/local/probe"])
def test_the_root_filesystem_is_read_only(running: Running, path: str) -> None:
    for container in containers(running):
        result = container.exec_run(["sh", "-c", f": > {path}"])
        assert result.exit_code != 0, (container.name, path)
        refused = (b"Read-only file system", b"Permission denied", b"Directory nonexistent")
        assert any(reason in result.output for reason in refused), (
            container.name,
            result.output,
        )


def test_no_container_sees_the_engine_socket(running: Running) -> None:
    for container in containers(running):
        result = container.exec_run(
            [
                "sh",
                "-c",
                "ls /var/run/docker.sock /run/docker.sock /var/lib/unifyops-docker 2>/dev/null",
            ]
        )
        assert result.output.strip() == b"", (container.name, result.output)
