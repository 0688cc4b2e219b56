"""`uo prune` on the real engine, through the CLI: tiny images of a repository of its own (so
nothing else on the engine is touched), one in use by a stopped container, one carrying a tag
infra/ records, the newest kept, the rest removed; a dry run removes nothing."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import docker
import pytest

from uo.cli import main
from uo.local.prune import Candidate, choose, is_ours, repository_of
from uo.repo import find_repo_root
from uo.state import status_rows

ENGINE = "unix:///var/lib/unifyops-docker/docker.sock"  # as conftest.py


def tiny_image(client: docker.DockerClient, repository: str, tag: str, content: str) -> str:
    """An image of one small file (distinct content, distinct id), imported, not built."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = content.encode()
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    return str(client.images.get(f"{repository}:{tag}").id)


@pytest.fixture
def repository(client: docker.DockerClient) -> Iterator[str]:
    name = f"unifyops/prune-test-{secrets.token_hex(3)}"
    yield name
    for image in client.images.list(name=name):
        client.images.remove(image.id, force=True)


def recorded_tag() -> str:
    tags = [row[3] for row in status_rows(find_repo_root()) if row[3] not in ("", "-")]
    assert tags, "infra/ records no image tag"
    return tags[0]


def test_only_what_nothing_uses_keeps_or_records_is_removed(
    client: docker.DockerClient,
    repository: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI connects as a user's shell does: through $DOCKER_HOST (conftest's engine).
    monkeypatch.setenv("DOCKER_HOST", os.environ.get("DOCKER_HOST") or ENGINE)
    used = tiny_image(client, repository, "used", "1")
    recorded = tiny_image(client, repository, recorded_tag(), "2")
    stale = tiny_image(client, repository, "stale", "3")
    time.sleep(1.1)  # "newest" is by creation time
    newest = tiny_image(client, repository, "newest", "4")
    container = client.containers.create(used, command=["/marker.txt"])
    name = repository.split("/", 1)[1]
    try:
        assert main(["prune", "--keep", "1", "--only", name, "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"would remove {repository}:stale" in out
        assert "would remove 1 image(s)" in out
        assert client.images.get(stale)  # still there

        assert main(["prune", "--keep", "1", "--only", name]) == 0
        out = capsys.readouterr().out
        assert f"removed {repository}:stale" in out
        assert "kept 3" in out
        left = {str(image.id) for image in client.images.list(name=repository)}
        assert left == {used, recorded, newest}
    finally:
        container.remove(force=True)
    # With the container gone the used image is removable too; the recorded one never.
    assert main(["prune", "--keep", "0", "--only", name]) == 0
    left = {str(image.id) for image in client.images.list(name=repository)}
    assert left == {recorded}


def test_a_negative_keep_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--keep", "-1"]) == 2
    assert "--keep must be 0 or more" in capsys.readouterr().err


def test_what_counts_as_ours() -> None:
    assert (
        repository_of("127.0.0.1:5000/unifyops/user-api:abc") == "127.0.0.1:5000/unifyops/user-api"
    )
    assert repository_of("unifyops/user-api") == "unifyops/user-api"
    assert is_ours("127.0.0.1:5000/unifyops/user-api")
    assert is_ours("unifyops/user-api")
    assert is_ours("uo-e2e/user-api-next")
    assert not is_ours("unifyops/base-python")
    assert not is_ours("127.0.0.1:5000/unifyops/base-postgres")
    assert not is_ours("debian")
    assert not is_ours("registry")


def test_newest_per_repository_in_use_and_recorded_are_kept() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def image(n: int, repository: str, tag: str) -> Candidate:
        return Candidate(f"id{n}", (repository,), (f"{repository}:{tag}",), now + timedelta(n), 1)

    found = [
        image(1, "unifyops/a", "old"),
        image(2, "unifyops/a", "rec"),
        image(3, "unifyops/a", "mid"),
        image(4, "unifyops/a", "new"),
        image(5, "unifyops/b", "only"),
    ]
    verdict = choose(found, in_use={"id3"}, recorded_tags={"rec"}, keep=1)
    assert [c.image_id for c in verdict.removed] == ["id1"]
    assert verdict.kept == 4
    assert [
        c.image_id for c in choose(found, in_use=set(), recorded_tags=set(), keep=0).removed
    ] == ["id1", "id2", "id3", "id4", "id5"]
