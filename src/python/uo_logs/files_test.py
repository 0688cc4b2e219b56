"""The reader finds an environment's lines in the engine's own files: a real container on the
real engine logs JSON lines and plain text; the reader, given only the engine's ``containers``
directory, returns them with their short names, and nothing of another environment."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import pytest

from uo_logs import files

ENGINE = "unix:///var/lib/unifyops-docker/docker.sock"  # build-support/services/docker.sh
LABEL = "io.unifyops.local"
PRINTS = """
import json, sys
from datetime import datetime, timezone
print(json.dumps({"timestamp": datetime.now(timezone.utc).isoformat(), "level": "ERROR",
                  "message": "boom", "request_id": "r-1", "error_id": sys.argv[1]}))
print("a plain line")
"""


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    connected = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or ENGINE)
    yield connected
    connected.close()


@pytest.fixture
def environment(client: docker.DockerClient) -> Iterator[str]:
    name = f"t{secrets.token_hex(3)}"
    yield name
    for container in client.containers.list(
        all=True, filters={"label": f"{LABEL}.environment={name}"}
    ):
        container.remove(force=True)


def run(client: docker.DockerClient, environment: str, tier: str, error_id: str) -> None:
    image = client.images.list(name="unifyops/base-python")
    assert image, "no unifyops/base-python image: run build-support/images/prepare.sh"
    container = client.containers.run(
        image[0].id,
        ["python3", "-c", PRINTS, error_id],
        labels={
            f"{LABEL}.environment": environment,
            f"{LABEL}.stack": "user",
            f"{LABEL}.tier": tier,
        },
        log_config=docker.types.LogConfig(type="json-file"),
        detach=True,
    )
    assert container.wait(timeout=30)["StatusCode"] == 0


def test_an_environments_lines_come_from_the_engines_files_with_their_names(
    client: docker.DockerClient, environment: str
) -> None:
    run(client, environment, "service", "e-1")
    run(client, environment, "service", "e-2")  # the tier's second container
    run(client, f"{environment}x", "api", "e-other")  # another environment
    root = Path(client.info()["DockerRootDir"]) / "containers"
    found = files.sources(files.containers(root, LABEL, environment), LABEL)
    assert [source.name for source, _ in found] == ["user-service", "user-service.2"]
    lines = files.read_lines(found, datetime.now(UTC) - timedelta(minutes=5))
    assert [(line.source.name, line.get("error_id")) for line in lines if line.record] == [
        ("user-service", "e-1"),
        ("user-service.2", "e-2"),
    ]
    plain = [line for line in lines if line.record is None]
    assert [line.raw for line in plain] == ["a plain line", "a plain line"]
    assert all(
        line.received and line.received > datetime.now(UTC) - timedelta(minutes=5) for line in lines
    )
    for container in client.containers.list(
        all=True, filters={"label": f"{LABEL}.environment={environment}x"}
    ):
        container.remove(force=True)


def test_since_drops_older_lines_and_a_cut_first_line_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's format written by hand: a line before ``since`` is dropped; with a file
    larger than the tail read, its first (cut) line is not parsed as a record."""
    container = tmp_path / "abc"
    container.mkdir()
    (container / "config.v2.json").write_text(
        json.dumps(
            {
                "Name": "/uo-x-user-api",
                "Created": "2026-01-01T00:00:00Z",
                "Config": {"Labels": {f"{LABEL}.environment": "x", f"{LABEL}.tier": "api"}},
            }
        )
    )
    now = datetime.now(UTC)

    def entry(text: str, when: datetime) -> str:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds, as the engine
        return json.dumps({"log": text + "\n", "stream": "stdout", "time": stamp}) + "\n"

    (container / "abc-json.log").write_text(
        entry("old", now - timedelta(hours=2)) + entry("new", now)
    )
    found = files.sources(files.containers(tmp_path, LABEL, "x"), LABEL)
    assert [source.name for source, _ in found] == ["?-api"]
    assert [line.raw for line in files.read_lines(found, now - timedelta(hours=1))] == ["new"]
    monkeypatch.setattr(files, "TAIL_BYTES", len(entry("new", now)) + 3)  # cuts "old"
    assert [line.raw for line in files.read_lines(found, now - timedelta(days=1))] == ["new"]
