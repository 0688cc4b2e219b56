"""The registry path against a real registry: registry.sh's (TLS + htpasswd) on a throwaway port,
real tiny images pushed by the real engine, digests read back over the authenticated API."""

from __future__ import annotations

import os
import ssl
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from uo.errors import RegistryError
from uo.latest import Pin, move_latest
from uo.publishing import BuiltImage, plan, publish
from uo.registry import Registry
from uo.registry_testutil import ThrowawayRegistry, run_script, throwaway_registry, tiny_image

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayRegistry]:
    with throwaway_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
def logged_in(registry: ThrowawayRegistry, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config))
    with Registry(registry.address) as client:
        yield client


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(
        base_url=os.environ.get("DOCKER_HOST") or "unix:///var/lib/unifyops-docker/docker.sock"
    )
    yield client
    client.close()


def test_the_registry_wants_tls_and_an_account(registry: ThrowawayRegistry) -> None:
    ca = registry.state / "certs/ca.crt"
    trust = ssl.create_default_context(cafile=str(ca))
    assert (
        Path("/etc/docker/certs.d") / registry.address / "ca.crt"
    ).read_bytes() == ca.read_bytes()
    assert httpx.get(f"https://{registry.address}/v2/", verify=trust).status_code == 401
    with pytest.raises(httpx.HTTPError):  # a certificate nobody vouches for
        httpx.get(f"https://{registry.address}/v2/")
    credentials = registry.state / "auth/credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    user, _, password = credentials.read_text().strip().partition(":")
    answer = httpx.get(f"https://{registry.address}/v2/", verify=trust, auth=(user, password))
    assert answer.status_code == 200
    # Idempotent: the same registry, account and CA, and the address again.
    again = run_script(registry)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == registry.address
    assert credentials.read_text().strip() == f"{user}:{password}"
    assert (registry.state / "certs/ca.crt").read_bytes() == ca.read_bytes()


def test_without_an_account_reads_are_refused(
    registry: ThrowawayRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no docker login here
    with Registry(registry.address) as anonymous:
        assert anonymous.credentials is None
        with pytest.raises(RegistryError, match="refused the credentials"):
            anonymous.manifest("unifyops/user-app", SHA)


def test_publish_pushes_once_and_never_moves_a_sha_tag(
    logged_in: Registry, engine: docker.DockerClient
) -> None:
    repository = f"unifyops/test-{uuid.uuid4().hex[:8]}"
    first_id = tiny_image(engine, f"uo-test/{repository}:one", "first")
    first = BuiltImage(f"uo-test/{repository}:one", repository, SHA)

    done = publish(engine, logged_in, [first])
    assert [image for image, _ in done.push] == [first]
    held = logged_in.manifest(repository, SHA)
    assert held is not None
    # What was pushed is the image made reproducible, and the local tag moved to it.
    assert held.config_digest == engine.images.get(f"uo-test/{repository}:one").id
    assert held.config_digest != first_id  # the build's own time is out of it
    # The engine, asked on its own, names the same digest uo read over the API.
    data = engine.images.get_registry_data(
        logged_in.reference(repository) + f":{SHA}",
        auth_config=logged_in.credentials.auth_config() if logged_in.credentials else None,
    )
    assert data.id == held.digest

    # Republishing the same image: nothing to push, the digest stays.
    again = publish(engine, logged_in, [first])
    assert (again.push, again.unchanged) == ([], [first])

    # Another image under the same SHA tag: refused before anything is pushed, even the image
    # whose own tag is free.
    tiny_image(engine, f"uo-test/{repository}:two", "second")
    other = BuiltImage(f"uo-test/{repository}:two", repository, SHA)
    free = BuiltImage(f"uo-test/{repository}:two", repository, "fedcba9876543210")
    with pytest.raises(RegistryError, match="refusing to move SHA tags") as refused:
        publish(engine, logged_in, [free, other])
    assert refused.value.detail
    assert f"{repository}:{SHA} is {held.digest}" in refused.value.detail
    assert logged_in.manifest(repository, SHA) == held
    assert logged_in.manifest(repository, "fedcba9876543210") is None
    # A tag that is no SHA may move.
    assert [i for i, _ in plan(engine, logged_in, [BuiltImage(other.local, repository, "x")]).push]


def test_env_latest_moves_to_the_pinned_digest(
    logged_in: Registry, engine: docker.DockerClient
) -> None:
    repository = f"unifyops/test-{uuid.uuid4().hex[:8]}"
    digests = []
    for n, tag in enumerate(("aaaaaaa", "bbbbbbb")):
        tiny_image(engine, f"uo-test/{repository}:{n}", f"content {n}")
        publish(engine, logged_in, [BuiltImage(f"uo-test/{repository}:{n}", repository, tag)])
        held = logged_in.manifest(repository, tag)
        assert held is not None
        digests.append(held.digest)

    assert move_latest(logged_in, "dev", [Pin(repository, digests[0])]) == [
        f"{logged_in.reference(repository)}:dev-latest -> {digests[0]}"
    ]
    assert move_latest(logged_in, "dev", [Pin(repository, digests[0])]) == []  # already there
    move_latest(logged_in, "dev", [Pin(repository, digests[1])])
    latest = logged_in.manifest(repository, "dev-latest")
    assert latest is not None
    assert latest.digest == digests[1]
    with pytest.raises(RegistryError, match="is not in the registry"):
        move_latest(logged_in, "dev", [Pin(repository, "sha256:" + "0" * 64)])
