"""``jobs.<id>.services`` for the local workflow runner (workflow_runner.py), as GitHub's runner
starts them for a job that runs on the runner machine: one network for the job, each service a
container on it (``--network-alias`` its name) with its ``env``, ``ports`` published on the
machine and ``options`` passed to ``docker create``; a service with a health check must be healthy
before the first step; ``job.services.<name>`` gives ``id``, ``network`` and ``ports`` (container
port -> machine port); all is removed when the job ends.

GitHub pulls each ``image`` (with ``credentials`` when given). This machine reaches no public
image registry, so the runner is given local stand-ins: ``images`` maps an image name as the
workflow writes it to a local image that implements the same interface (e.g. ``postgres:15`` ->
the project's own PostgreSQL 15 image, which reads the same POSTGRES_* variables). An image with
no stand-in must already be in the engine, else the job fails as a failed pull would.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HEALTH_TIMEOUT_S = 120.0


class ServiceError(RuntimeError):
    """A service container could not be started or never became healthy."""


@dataclass
class JobServices:
    """The service containers of one job (or matrix combination)."""

    docker_env: Mapping[str, str]
    network: str = ""
    containers: dict[str, str] = field(default_factory=dict)  # service name -> container id
    context: dict[str, Any] = field(default_factory=dict)  # job.services

    def _docker(self, *args: str) -> str:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, env=dict(self.docker_env)
        )
        if done.returncode != 0:
            raise ServiceError(f"docker {args[0]}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

    def start(self, services: Mapping[str, Any], images: Mapping[str, str]) -> list[str]:
        """Start every service (expressions already substituted); returns log lines."""
        log: list[str] = []
        if not services:
            return log
        local = {name: self._pull(name, spec or {}, images) for name, spec in services.items()}
        self.network = f"github_network_{uuid.uuid4().hex[:12]}"
        self._docker("network", "create", "--label", "uo.workflow-runner=1", self.network)
        log.append(f"network {self.network}")
        for name, spec in services.items():
            log.append(self._start_one(name, spec or {}, local[name]))
        for name, container in self.containers.items():
            self._wait_healthy(name, container)
        return log

    def _pull(self, name: str, spec: Mapping[str, Any], images: Mapping[str, str]) -> str:
        """The local image standing in for the service's (GitHub's "pull")."""
        unknown = set(spec) - {"image", "env", "ports", "options", "credentials", "volumes"}
        if unknown:
            raise ServiceError(f"service {name}: this runner does not do {sorted(unknown)}")
        image = str(spec.get("image") or "")
        if not image:
            raise ServiceError(f"service {name}: no image")
        local = images.get(image, image)
        try:
            self._docker("image", "inspect", "--format", "{{.Id}}", local)
        except ServiceError as exc:
            raise ServiceError(f"service {name}: cannot pull {image} here ({exc})") from exc
        return local

    def _start_one(self, name: str, spec: Mapping[str, Any], local: str) -> str:
        image = str(spec["image"])
        args = ["create", "--network", self.network, "--network-alias", name]
        args += ["--label", "uo.workflow-runner=1"]
        for key, value in (spec.get("env") or {}).items():
            args += ["-e", f"{key}={value}"]
        for port in spec.get("ports") or []:
            args += ["-p", str(port)]
        for volume in spec.get("volumes") or []:
            args += ["-v", str(volume)]
        args += shlex.split(str(spec.get("options") or ""))
        container = self._docker(*args, local)
        self.containers[name] = container
        self._docker("start", container)
        ports: dict[str, str] = {}
        inspect = json.loads(self._docker("inspect", container))[0]
        for container_port, bindings in (inspect["NetworkSettings"]["Ports"] or {}).items():
            if bindings:
                ports[container_port.split("/", 1)[0]] = bindings[0]["HostPort"]
        self.context[name] = {"id": container, "network": self.network, "ports": ports}
        stand_in = "" if local == image else f" (stand-in {local})"
        return f"service {name}: {image}{stand_in} ports {ports}"

    def _wait_healthy(self, name: str, container: str) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            state = json.loads(self._docker("inspect", "--format", "{{json .State}}", container))
            health = (state.get("Health") or {}).get("Status")
            if not state.get("Running"):
                raise ServiceError(f"service {name} exited:\n{self._logs(container)}")
            if health in (None, "healthy"):
                return
            if health == "unhealthy" or time.monotonic() > deadline:
                raise ServiceError(f"service {name} is {health}:\n{self._logs(container)}")
            time.sleep(0.5)

    def _logs(self, container: str) -> str:
        done = subprocess.run(
            ["docker", "logs", "--tail", "20", container],
            capture_output=True,
            text=True,
            env=dict(self.docker_env),
        )
        return (done.stdout + done.stderr).strip()

    def stop(self) -> None:
        for container in self.containers.values():
            subprocess.run(
                ["docker", "rm", "-f", "-v", container],
                capture_output=True,
                env=dict(self.docker_env),
            )
        if self.network:
            subprocess.run(
                ["docker", "network", "rm", self.network],
                capture_output=True,
                env=dict(self.docker_env),
            )


__all__ = ["HEALTH_TIMEOUT_S", "JobServices", "ServiceError"]
