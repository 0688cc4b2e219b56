"""From inside every running container of the environment: what a process that got code execution
there could do to the container itself."""

from __future__ import annotations

import pytest
from docker.models.containers import Container, ExecResult

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


def inside(container: Container, python: str, shell: str) -> ExecResult:
    """Run a check in the container: as Python where the image is a Python one (those have no
    shell), else as a shell command (PostgreSQL, Prometheus)."""
    result = container.exec_run(["python3", "-c", python])
    if result.exit_code in (126, 127) and b"executable file not found" in result.output:
        result = container.exec_run(["sh", "-c", shell])
    return result


def test_every_process_runs_without_capabilities_or_new_privileges(running: Running) -> None:
    for container in containers(running):
        status = inside(container, "print(open('/proc/1/status').read())", "cat /proc/1/status")
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
        result = inside(container, f"open({path!r}, 'w')", f": > {path}")
        assert result.exit_code != 0, (container.name, path)
        refused = (
            b"Read-only file system",
            b"Permission denied",
            b"Directory nonexistent",
            b"No such file or directory",
        )
        assert any(reason in result.output for reason in refused), (
            container.name,
            result.output,
        )


def test_no_container_sees_the_engine_socket(running: Running) -> None:
    for container in containers(running):
        paths = ["/var/run/docker.sock", "/run/docker.sock", "/var/lib/unifyops-docker"]
        result = inside(
            container,
            f"import os; print(' '.join(p for p in {paths!r} if os.path.exists(p)))",
            f"ls {' '.join(paths)} 2>/dev/null",
        )
        assert result.output.strip() == b"", (container.name, result.output)


def test_no_python_container_has_a_shell_or_tools_to_script_with(running: Running) -> None:
    # Code execution in a tier gets the interpreter it already had, and nothing to install,
    # download or script with: base-python keeps no shell, coreutils or package tooling.
    python_containers = [
        c for c in containers(running) if c.exec_run(["python3", "-c", "pass"]).exit_code == 0
    ]
    assert len(python_containers) >= 10, [c.name for c in python_containers]  # 3 x 3 + edge
    for container in python_containers:
        for tool in ("sh", "bash", "ls", "apt-get", "dpkg", "curl", "wget", "perl"):
            result = container.exec_run([tool, "--version"])
            assert result.exit_code in (126, 127), (container.name, tool, result.output)
