"""The reader finds an environment's lines in the engine's own log files: real containers on the
real engine log JSON lines and plain text; the reader, given their log files (as `uo up` mounts
them: ``<root>/<id>.log``) and the index naming each, returns the lines with their short names."""

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
    client: docker.DockerClient, environment: str, tmp_path: Path
) -> None:
    run(client, environment, "service", "e-1")
    run(client, environment, "service", "e-2")  # the tier's second container
    index = []
    for container in client.containers.list(
        all=True, filters={"label": f"{LABEL}.environment={environment}"}
    ):
        # As uo up mounts them: the engine's file of each container, under its id.
        (tmp_path / f"{container.id}.log").symlink_to(container.attrs["LogPath"])
        index.append(
            {
                "id": container.id,
                "name": container.name,
                "created": container.attrs["Created"],
                "labels": container.labels,
            }
        )
    found = files.sources(files.containers(tmp_path, json.dumps(index)), LABEL)
    assert [source.name for source, _ in found] == ["user-service", "user-service.2"]
    lines = files.read_lines(found, datetime.now(UTC) - timedelta(minutes=5))
    assert [(line.source.name, line.get("error_id")) for line in lines if line.record] == [
        ("user-service", "e-1"),
        ("user-service.2", "e-2"),
    ]
    plain = [line for line in lines if line.record is None]
    assert [line.raw for line in plain] == ["a plain line", "a plain line"]
    recent = datetime.now(UTC) - timedelta(minutes=5)
    assert all(line.received and line.received > recent for line in lines)
    assert files.containers(tmp_path, "not json") == []
    assert files.containers(tmp_path, '[{"id": "x"}]') == []  # an entry without a name


def test_since_drops_older_lines_and_a_cut_first_line_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's format written by hand: a line before ``since`` is dropped; with a file
    larger than the tail read, its first (cut) line is not parsed as a record."""
    index = json.dumps(
        [
            {
                "id": "abc",
                "name": "uo-x-user-api",
                "created": "2026-01-01T00:00:00Z",
                "labels": {f"{LABEL}.environment": "x", f"{LABEL}.tier": "api"},
            }
        ]
    )
    now = datetime.now(UTC)

    def entry(text: str, when: datetime) -> str:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds, as the engine
        return json.dumps({"log": text + "\n", "stream": "stdout", "time": stamp}) + "\n"

    (tmp_path / "abc.log").write_text(entry("old", now - timedelta(hours=2)) + entry("new", now))
    found = files.sources(files.containers(tmp_path, index), LABEL)
    assert [source.name for source, _ in found] == ["?-api"]
    assert [line.raw for line in files.read_lines(found, now - timedelta(hours=1))] == ["new"]
    monkeypatch.setattr(files, "TAIL_BYTES", len(entry("new", now)) + 3)  # cuts "old"
    assert [line.raw for line in files.read_lines(found, now - timedelta(days=1))] == ["new"]
