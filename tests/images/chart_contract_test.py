"""The chart↔image contract: every container the chart renders for dev, staging and prod starts
in the image this repository builds, with the rendered command, args, env (secrets generated
for the referenced names), user, read-only root filesystem, dropped capabilities, tmpfs for
emptyDirs and memory limits — no cluster needed.

Per (environment, stack): the rendered PostgreSQL must pass its readiness probe, every Job
(migrations, client registrations) must run its command to exit 0 against it, and every
Deployment must answer its liveness probe. The image of each rendered reference is swapped for
the one built for this run (same repository); everything else is as rendered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from images.built import built_images
from uo.local import engine, manifests, specs
from uo.local.manifests import Workload
from uo.local.topology import ContainerSpec
from uo.local.wiring import Attachment, Wiring
from uo.render import Manifest, render_target, targets
from uo.secret_values import generate

IMAGES = built_images()
TARGETS = targets(Path.cwd())
LIVE_TIMEOUT = 60.0


def repository_of(reference: str) -> str:
    """``harbor.example/unifyops/user-api:sha`` or ``…@sha256:…`` → ``unifyops/user-api``."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: -(len(last) - last.index(":"))]
    parts = name.split("/")
    return "/".join(parts[-2:])


def test_repository_of_strips_registry_tag_and_digest() -> None:
    assert repository_of("h.example:5000/unifyops/user-api:abc") == "unifyops/user-api"
    assert repository_of("h.example/unifyops/postgres@sha256:00") == "unifyops/postgres"


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return engine.connect()


@pytest.fixture
def network(client: docker.DockerClient) -> Iterator[str]:
    """One network per (environment, stack); its containers and their volumes go with it."""
    name = f"uo-contract-{uuid.uuid4().hex[:8]}"
    net = client.networks.create(name, driver="bridge", internal=True)
    yield name
    for container in client.containers.list(all=True, filters={"network": name}):
        container.remove(force=True)
    net.remove()
    for volume in client.volumes.list(filters={"name": name}):
        volume.remove(force=True)


def spec_for(
    workload: Workload, objects: list[Manifest], network: str, secrets: dict[tuple[str, str], str]
) -> ContainerSpec:
    rendered_image = workload.container["image"]
    built = IMAGES[repository_of(rendered_image)]
    aliases = tuple(s.name for s in manifests.services(objects) if s.selects(workload))
    # One network for the whole stack, no isolation: this checks the containers, not the
    # policies (the e2e tests do). Jobs may open PostgreSQL's port through their firewall.
    ports = tuple(workload.ports().values())
    wiring = Wiring(
        client={network: Attachment(ports=(5432,))} if workload.is_job else {},
        serving={} if workload.is_job else {network: Attachment(aliases=aliases, ports=ports)},
    )
    env = specs.resolve_env(workload, secrets, manifests.config_maps(objects))
    (spec, *_) = specs.container_specs("contract", workload, wiring, env, built.image_id)
    # Unique names (the same workload runs once per environment); claims become fresh volumes
    # named after the network, removed with it.
    volumes = {f"{network}-{name}": path for name, path in spec.volumes.items()}
    return replace(spec, environment=f"contract-{uuid.uuid4().hex[:6]}", volumes=volumes)


def start(client: docker.DockerClient, spec: ContainerSpec) -> Container:
    container = engine.create(client, spec, serving_now=True)
    container.start()
    return container


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.environment}-{t.stack}")
def test_every_rendered_container_starts_in_the_built_image(
    client: docker.DockerClient, network: str, target: object
) -> None:
    objects = render_target(Path.cwd(), target)  # type: ignore[arg-type]
    items = manifests.workloads(objects)
    assert {w.kind for w in items} == {"StatefulSet", "Job", "Deployment"}
    # One value per referenced (Secret, key), shared by every container, as a Secret is.
    secrets = {
        (name, key): generate(stack, name, key)
        for stack, name, key in manifests.secret_refs(objects)
    }
    for workload in items:
        spec = spec_for(workload, objects, network, secrets)
        if workload.kind == "StatefulSet":
            engine.wait_ready(start(client, spec), spec, LIVE_TIMEOUT)
        elif workload.is_job:
            code, tail = engine.run_job(client, spec, 180)
            assert code == 0, f"{workload.name}: exit {code}\n{tail}"
        else:
            probe = workload.container["livenessProbe"]["httpGet"]
            port = (
                workload.ports()[probe["port"]] if isinstance(probe["port"], str) else probe["port"]
            )
            liveness = replace(spec.readiness, kind="http", port=port, path=probe["path"])
            engine.wait_ready(start(client, spec), replace(spec, readiness=liveness), LIVE_TIMEOUT)
