"""The real engine for the tests of uo.local: a client, the base image to run small containers
from, and a throwaway environment name whose containers and networks are removed afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import docker
import pytest

from uo.local import engine

# Where build-support/engine starts the private engine (ENVIRONMENT.md's socket).
ENGINE = "unix:///var/lib/unifyops-docker/docker.sock"


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    connected = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or ENGINE)
    yield connected
    connected.close()


@pytest.fixture(scope="module")
def image(client: docker.DockerClient) -> str:
    # The build base: the same Python as base-python, plus the shell and coreutils these tests
    # script containers with (base-python has neither: it carries only what a service runs).
    found = client.images.list(name="unifyops/base-build")
    if not found:
        pytest.fail("no unifyops/base-build image: run build-support/images/prepare.sh")
    return str(found[0].id)


@pytest.fixture
def environment(client: docker.DockerClient) -> Iterator[str]:
    name = f"t{secrets.token_hex(3)}"
    yield name
    for container in engine.containers(client, name):
        container.remove(force=True)
    for network in client.networks.list(filters=engine.env_filter(name)):
        network.remove()
