"""The Prometheus image on the engine, as `uo up` runs it (uo.local.monitoring.prometheus_spec):
non-root, read-only root, configuration generated into its tmpfs, NetworkPolicy rules in its
namespace. It scrapes a metrics server found by its Service name on an internal network and
reports ``up == 1`` with the target labels through its HTTP API; a bad configuration stops it
with promtool's reason.

Runs only its own containers, networks and volume, in a throwaway environment, removed after.
The image: the one Pants built for this run, or ``UO_TEST_PROMETHEUS_IMAGE`` outside Pants.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import docker
import httpx
import pytest

from images.built import built_images
from uo.local import engine, monitoring
from uo.local.topology import LABEL, ContainerSpec, NetworkSpec, Readiness, public_network
from uo.local.wiring import Attachment, Wiring, network_name

# Prometheus serves its own /metrics: the smallest real metrics server this image can be.
TARGET_PORT = monitoring.PORT


def image() -> str:
    given = os.environ.get("UO_TEST_PROMETHEUS_IMAGE")
    if given:
        return given
    built = built_images().get("unifyops/prometheus")
    assert built, "no unifyops/prometheus image was built for this run"
    return built.image_id


@pytest.fixture
def environment() -> Iterator[tuple[docker.DockerClient, str]]:
    client = engine.connect()
    name = f"promtest{uuid.uuid4().hex[:8]}"
    try:
        yield client, name
    finally:
        for container in engine.containers(client, name):
            container.remove(force=True)
        for network in client.networks.list(filters=engine.env_filter(name)):
            network.remove()
        for volume in client.volumes.list():
            if volume.name.startswith(f"uo-{name}-"):  # also one the engine made unlabelled
                volume.remove(force=True)


def _start(client: docker.DockerClient, spec: ContainerSpec) -> Any:
    container = engine.create(client, spec, serving_now=True)
    container.start()
    engine.enforce_policy(container, spec)
    return container


def _prometheus(
    client: docker.DockerClient, env: str, jobs: list[monitoring.ScrapeJob], wired: Wiring
) -> ContainerSpec:
    groups = [
        {
            "name": "demo",
            "rules": [{"alert": "DemoDown", "expr": 'up{stack="demo"} == 0', "for": "1m"}],
        }
    ]
    # A throwaway environment has no loopback port of its own (nothing published): the API is
    # read from the host at the container's address (the probes' way in).
    return monitoring.prometheus_spec(
        env, image(), wired, monitoring.config(jobs, with_rules=True), monitoring.rules(groups)
    )


def _query(address: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"http://{address}:{monitoring.PORT}/api/v1/query", params={"query": expr})
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def test_it_scrapes_a_target_by_its_service_name_and_reports_it_up(
    environment: tuple[docker.DockerClient, str],
) -> None:
    client, env = environment
    net = network_name(env, "demo-api")
    engine.ensure_network(client, env, NetworkSpec(net, internal=True))
    engine.ensure_network(client, env, NetworkSpec(public_network(env), internal=False))
    target = ContainerSpec(
        env,
        "demo",
        "api",
        image(),
        serving_networks={net: Attachment(aliases=("demo-api",), ports=(TARGET_PORT,))},
        tmpfs=("/run/prometheus", "/prometheus"),
        env={"PROMETHEUS_CONFIG": "global: {scrape_interval: 1m}\n"},
        readiness=Readiness("http", TARGET_PORT, "/-/ready"),
    )
    engine.wait_ready(_start(client, target), target, 60)

    job = monitoring.ScrapeJob(
        name=f"uo-{env}/demo/0/demo-api",
        dns_names=("demo-api",),
        port=TARGET_PORT,
        path="/metrics",
        interval="1s",
        labels={"namespace": f"uo-{env}", "job": f"uo-{env}/demo", "stack": "demo", "tier": "api"},
    )
    wired = Wiring(client={net: Attachment(ports=(TARGET_PORT,))})
    spec = _prometheus(client, env, [job], wired)
    engine.ensure_volume(client, env, next(iter(spec.volumes)), monitoring.STACK)
    container = _start(client, spec)
    engine.wait_ready(container, spec, 60)

    attrs = container.attrs
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
    address = engine.address(container)
    deadline, result = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        result = _query(address, 'up{stack="demo", tier="api"}')
        if result and result[0]["value"][1] == "1":
            break
        time.sleep(1)
    assert result, "Prometheus never reported the target"
    assert result[0]["value"][1] == "1", result
    labels = result[0]["metric"]
    assert labels["namespace"] == f"uo-{env}"
    assert labels["job"] == f"uo-{env}/demo"
    # What it scraped is the target's own series.
    assert _query(address, 'prometheus_build_info{stack="demo"}')
    rules = httpx.get(f"http://{address}:{monitoring.PORT}/api/v1/rules").json()["data"]
    assert [g["name"] for g in rules["groups"]] == ["demo"]


def test_a_bad_configuration_stops_it_with_promtools_reason(
    environment: tuple[docker.DockerClient, str],
) -> None:
    client, env = environment
    engine.ensure_network(client, env, NetworkSpec(public_network(env), internal=False))
    spec = replace(
        _prometheus(client, env, [], Wiring()),
        env={"PROMETHEUS_CONFIG": "scrape_configs: [{job_name: x, scrape_interval: soon}]"},
        restart=False,
    )
    container = engine.create(client, spec, serving_now=True)
    container.start()
    with pytest.raises(engine.NotReadyError, match="exited with code 1") as failed:
        engine.wait_ready(container, spec, 30)
    assert "soon" in str(failed.value)
    assert container.labels[f"{LABEL}.environment"] == env
