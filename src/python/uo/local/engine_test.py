"""A Job runs inside a network namespace whose NetworkPolicy was written before it started (the
holder container, as a pod's sandbox): its very first connection is already filtered."""

from __future__ import annotations

import time

import docker
import pytest

from uo.local import engine
from uo.local.topology import LABEL, ContainerSpec
from uo.local.wiring import Attachment

# Listens on 8080 and 8081 (the second one no policy lets the Job use).
SERVER = """
import socket, threading
def serve(port):
    listener = socket.create_server(("0.0.0.0", port))
    while True:
        listener.accept()[0].close()
threading.Thread(target=serve, args=(8081,), daemon=True).start()
serve(8080)
"""
# Its first instructions: the allowed port answers, the other one must not.
JOB = """
import socket, sys
def opens(port):
    try:
        socket.create_connection(("server", port), timeout=2).close()
        return True
    except OSError:
        return False
allowed, forbidden = opens(8080), opens(8081)
print(f"allowed={allowed} forbidden={forbidden}")
sys.exit(0 if allowed and not forbidden else 1)
"""


@pytest.fixture
def network(client: docker.DockerClient, environment: str) -> str:
    name = f"uo-{environment}-to-server"
    client.networks.create(name, internal=True, labels={f"{LABEL}.environment": environment})
    return name


def test_a_jobs_first_connection_already_meets_its_policy(
    client: docker.DockerClient, environment: str, image: str, network: str
) -> None:
    server = ContainerSpec(
        environment,
        "demo",
        "server",
        image,
        entrypoint=("python3", "-c", SERVER),
        serving_networks={network: Attachment(("server",), (8080, 8081))},
    )
    engine.create(client, server, serving_now=True).start()
    time.sleep(1)  # listening
    job = ContainerSpec(
        environment,
        "demo",
        "migrate",
        image,
        entrypoint=("python3", "-c", JOB),
        client_networks={network: Attachment(ports=(8080,))},
    )
    code, tail = engine.run_job(client, job, 60)
    assert code == 0, tail
    assert "allowed=True forbidden=False" in tail
    (ran,) = engine.containers(client, environment, stack="demo", tier="migrate")
    assert ran.attrs["HostConfig"]["NetworkMode"].startswith("container:")
    # The holder is gone with the Job's run: nothing of it keeps the namespace.
    assert engine.containers(client, environment, tier="migrate" + engine.HOLDER_SUFFIX) == []
