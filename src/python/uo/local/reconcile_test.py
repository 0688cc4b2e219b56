"""The reconciler's own failure messages, on the real engine (its rollouts of whole stacks are
proven in tests/e2e)."""

from __future__ import annotations

import socket

import docker
import pytest

from uo.local import engine, reconcile
from uo.local.topology import LABEL, ContainerSpec
from uo.local.wiring import Attachment


def test_a_published_port_another_process_holds_is_named_and_nothing_is_left_running(
    client: docker.DockerClient, environment: str, image: str
) -> None:
    network = f"uo-{environment}-public"
    client.networks.create(network, labels={f"{LABEL}.environment": environment})
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        spec = ContainerSpec(
            environment,
            "platform",
            "edge",
            image,
            command=("sleep", "60"),
            serving_networks={network: Attachment((), (8080,))},
            ports={8080: taken},
        )
        plan = reconcile.Plan(environment, {}, "edge", repo=".")
        with pytest.raises(reconcile.RolloutError) as raised:
            reconcile.Reconciler(client, plan, print).replace(spec)
    assert f"platform-edge cannot publish 127.0.0.1:{taken}" in str(raised.value)
    assert "another process listens" in str(raised.value)
    assert engine.containers(client, environment) == []
