"""Account roles in a running `uo up` environment: `auth-service roles ...` run inside the newest
running auth-service container (`docker exec`), which reaches its database with the settings the
server itself uses. No token, port or password leaves the environment for this."""

from __future__ import annotations

from dataclasses import dataclass

import docker

from uo.local import engine
from uo.local.topology import AUTH_STACK

# Where the image's entry point lives (build-support/pants/macros.py writes it).
SERVICE_BINARY = "/app/venv/pex"


@dataclass(frozen=True)
class Outcome:
    """What the subcommand said: its exit code and its output, decoded."""

    exit_code: int
    stdout: str
    stderr: str

    def message(self) -> str:
        """The subcommand's last error line, without its own prefix (uo adds its own)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {self.exit_code}"
        for marker in (": error: ", ": "):
            if last.startswith("auth-service roles") and marker in last:
                return last.split(marker, 1)[1]
        return last


def run_roles(client: docker.DockerClient, environment: str, args: list[str]) -> Outcome:
    running = [
        c
        for c in engine.containers(client, environment, stack=AUTH_STACK, tier="service")
        if c.status == "running"
    ]
    if not running:
        raise engine.EngineError(
            f"no auth-service runs in {environment} (start it with ./uo up --env {environment})"
        )
    container = sorted(running, key=lambda c: c.attrs["Created"])[-1]
    result = container.exec_run([SERVICE_BINARY, "roles", *args], demux=True)
    out, err = result.output if isinstance(result.output, tuple) else (result.output, None)
    return Outcome(
        int(result.exit_code if result.exit_code is not None else 1),
        (out or b"").decode(errors="replace"),
        (err or b"").decode(errors="replace"),
    )


def grant_admin(client: docker.DockerClient, environment: str, email: str) -> Outcome:
    """Make the bootstrap operator an admin (idempotent: granting a held role changes nothing)."""
    return run_roles(client, environment, ["grant", email, "admin"])


__all__ = ["SERVICE_BINARY", "Outcome", "grant_admin", "run_roles"]
