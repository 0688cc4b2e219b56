"""Contract checks that run every built image on the Docker engine: conventional port, health,
non-root user, labels, repository name from the naming contract, read-only root filesystem,
graceful SIGTERM; a service image with and without its PostgreSQL."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container
from docker.models.networks import Network

from images.built import BuiltImage, built_images
from unifyops_core.naming import PYTHON_TIERS, STACKS, Component

PYTHON_COMPONENTS = [Component(stack, tier) for stack in STACKS for tier in PYTHON_TIERS]
# The app tier: the React bundle behind the app server (no unifyops_core inside).
APP_COMPONENTS = [Component(stack, "app") for stack in STACKS]
ALL_COMPONENTS = PYTHON_COMPONENTS + APP_COMPONENTS
START_BUDGET_SECONDS = 20.0
REQUIRED_LABELS = (
    "org.opencontainers.image.revision",
    "org.opencontainers.image.source",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
    "io.unifyops.core-version",
    "io.unifyops.stack",
    "io.unifyops.tier",
)
IMAGES = built_images()


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def network(engine: docker.DockerClient) -> Iterator[Network]:
    created = engine.networks.create(f"uo-contract-{uuid.uuid4().hex[:8]}", driver="bridge")
    yield created
    created.remove()


def image_for(component: Component) -> BuiltImage:
    assert component.image_repository in IMAGES, f"no image built for {component.name}"
    return IMAGES[component.image_repository]


def start(
    engine: docker.DockerClient, network: Network, image: str, port: int, **options: Any
) -> tuple[Container, str]:
    container = engine.containers.run(
        image,
        detach=True,
        network=network.name,
        ports={f"{port}/tcp": ("127.0.0.1", None)},
        read_only=True,
        tmpfs={"/tmp": ""},
        **options,
    )
    container.reload()
    host_port = container.ports[f"{port}/tcp"][0]["HostPort"]
    return container, f"http://127.0.0.1:{host_port}"


def wait_for_live(base_url: str, container: Container) -> float:
    started = time.monotonic()
    while time.monotonic() - started < START_BUDGET_SECONDS:
        try:
            if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    logs = container.logs().decode()[-2000:]
    raise AssertionError(
        f"/health/live did not answer within {START_BUDGET_SECONDS}s; logs:\n{logs}"
    )


def test_one_image_per_tier_plus_the_database() -> None:
    expected = {c.image_repository for c in ALL_COMPONENTS} | {"unifyops/postgres"}
    assert set(IMAGES) == expected


@pytest.mark.parametrize("component", ALL_COMPONENTS, ids=lambda c: c.name)
def test_image_metadata_follows_the_contract(
    engine: docker.DockerClient, component: Component
) -> None:
    image = engine.images.get(image_for(component).image_id)
    config = image.attrs["Config"]
    labels = config["Labels"]
    required = [
        label
        for label in REQUIRED_LABELS
        if component.tier != "app" or label != "io.unifyops.core-version"
    ]
    assert all(labels.get(label) for label in required), labels
    assert (labels["io.unifyops.stack"], labels["io.unifyops.tier"]) == (
        component.stack,
        component.tier,
    )
    assert labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
    uid, _, gid = config["User"].partition(":")
    assert int(uid) >= 10000
    assert int(gid) >= 10000
    assert f"{component.port}/tcp" in config["ExposedPorts"]
    tag = image_for(component).reference.rsplit(":", 1)[1]
    assert tag.removesuffix("-dirty") == labels["org.opencontainers.image.revision"].removesuffix(
        "-dirty"
    )


@pytest.mark.parametrize("component", ALL_COMPONENTS, ids=lambda c: c.name)
def test_image_starts_serves_health_as_non_root_and_stops_gracefully(
    engine: docker.DockerClient, network: Network, component: Component
) -> None:
    container, base_url = start(engine, network, image_for(component).reference, component.port)
    try:
        wait_for_live(base_url, container)
        uid = container.exec_run(["python3", "-c", "import os; print(os.getuid())"])
        assert uid.output.decode().strip() == "10001", uid.output
        ready = httpx.get(f"{base_url}/health/ready", timeout=5)
        # Gateways have no dependency check and apps need only their bundle; services have no
        # database here, so they are not ready.
        if component.tier in ("api", "app"):
            assert ready.status_code == 200
        else:
            assert ready.status_code == 503
            assert ready.json()["error_type"] == "dependency_unavailable"
        container.stop(timeout=15)  # SIGTERM, then SIGKILL after 15 s
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-2000:]
    finally:
        container.remove(force=True)


def test_service_is_ready_with_its_database_and_keeps_running_without_it(
    engine: docker.DockerClient, network: Network
) -> None:
    password = secrets.token_urlsafe(16)
    database = engine.containers.run(
        IMAGES["unifyops/postgres"].reference,
        detach=True,
        network=network.name,
        name=f"contract-db-{uuid.uuid4().hex[:6]}",
        read_only=True,
        tmpfs={"/tmp": "", "/var/run/postgresql": "", "/var/lib/postgresql/data": ""},
        environment={
            "POSTGRES_USER": "user_service",
            "POSTGRES_PASSWORD": password,
            "POSTGRES_DB": "users",
        },
    )
    component = Component("user", "service")
    settings = {
        "UO_DATABASE__HOST": database.name,
        "UO_DATABASE__USER": "user_service",
        "UO_DATABASE__PASSWORD": password,
        "UO_DATABASE__NAME": "users",
    }
    service, base_url = start(
        engine, network, image_for(component).reference, component.port, environment=settings
    )
    try:
        wait_for_live(base_url, service)
        deadline = time.monotonic() + 30
        ready = httpx.get(f"{base_url}/health/ready", timeout=5)
        while ready.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            ready = httpx.get(f"{base_url}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        migrate = engine.containers.run(
            image_for(component).reference,
            command=["migrate"],
            network=network.name,
            environment=settings,
            read_only=True,
            tmpfs={"/tmp": ""},
            remove=True,
        )
        assert b"migrated to head" in migrate

        database.stop(timeout=10)
        down = httpx.get(f"{base_url}/health/ready", timeout=10)
        assert down.status_code == 503
        assert {"status_code", "message", "error_id", "error_type", "timestamp"} <= set(down.json())
        service.reload()
        assert service.status == "running"
        assert httpx.get(f"{base_url}/health/live", timeout=5).status_code == 200
    finally:
        service.remove(force=True)
        database.remove(force=True)


@pytest.mark.parametrize("component", APP_COMPONENTS, ids=lambda c: c.name)
def test_an_app_image_carries_no_web_framework_database_or_crypto_library(
    engine: docker.DockerClient, component: Component
) -> None:
    # The app server relays and serves files: what the service tiers need (FastAPI and pydantic,
    # SQLAlchemy and asyncpg, cryptography for tokens) is not in its venv at all.
    heavy = ["fastapi", "pydantic", "pydantic_core", "sqlalchemy", "asyncpg", "cryptography"]
    probe = (
        "import importlib.util, json\n"
        f"print(json.dumps([m for m in {heavy!r} if importlib.util.find_spec(m)]))\n"
    )
    output = engine.containers.run(
        image_for(component).reference,
        ["-c", probe],
        entrypoint="/app/venv/bin/python3",
        remove=True,
        read_only=True,
    )
    assert output.decode().strip().splitlines()[-1] == "[]"
