"""A throwaway registry of the real kind for tests: build-support/services/registry.sh (TLS,
htpasswd) on a free loopback port with its own state dir and Docker config, so tests never touch
the shared registry on :5000 or the machine's Docker login; and tiny images built from scratch
with the Docker SDK (one file each, so distinct contents give distinct image IDs)."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[3] / "build-support/services/registry.sh"
ENGINE = "unix:///var/lib/unifyops-docker/docker.sock"


@dataclass(frozen=True)
class ThrowawayRegistry:
    address: str
    state: Path
    docker_config: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def throwaway_registry(root: Path) -> Iterator[ThrowawayRegistry]:
    """Start registry.sh's registry on a free port; stop it and forget its CA afterwards."""
    port = _free_port()
    state, docker_config = root / "state", root / "docker-config"
    env = {
        **os.environ,
        "UO_REGISTRY_PORT": str(port),
        "UO_REGISTRY_DIR": str(state),
        "DOCKER_CONFIG": str(docker_config),
        "DOCKER_HOST": os.environ.get("DOCKER_HOST") or ENGINE,
    }
    started = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    address = started.stdout.strip()
    certs = Path(os.environ.get("UO_DOCKER_CERTS_DIR", "/etc/docker/certs.d")) / address
    try:
        yield ThrowawayRegistry(address, state, docker_config)
    finally:
        os.kill(int((state / "registry.pid").read_text()), signal.SIGTERM)
        shutil.rmtree(certs, ignore_errors=True)


def run_script(registry: ThrowawayRegistry) -> subprocess.CompletedProcess[str]:
    """registry.sh again, for the same registry."""
    env = {
        **os.environ,
        "UO_REGISTRY_PORT": registry.address.rsplit(":", 1)[1],
        "UO_REGISTRY_DIR": str(registry.state),
        "DOCKER_CONFIG": str(registry.docker_config),
        "DOCKER_HOST": os.environ.get("DOCKER_HOST") or ENGINE,
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)


def tiny_image(engine: Any, name: str, content: str, labels: dict[str, str] | None = None) -> str:
    """An image FROM scratch holding one file; tagged ``name``; returns its image ID."""
    dockerfile = "FROM scratch\nCOPY payload /payload\n" + "".join(
        f'LABEL "{key}"="{value}"\n' for key, value in (labels or {}).items()
    )
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for file_name, text in (("Dockerfile", dockerfile), ("payload", content)):
            data = text.encode()
            member = tarfile.TarInfo(file_name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    context.seek(0)
    image, _ = engine.images.build(fileobj=context, custom_context=True, tag=name, rm=True)
    return str(image.id)


__all__ = ["ThrowawayRegistry", "run_script", "throwaway_registry", "tiny_image"]
