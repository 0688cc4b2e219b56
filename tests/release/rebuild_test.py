"""`uo up --env <env>` on a machine whose engine and registry lack a recorded image: it is built
again from the commit infra records, in a throwaway worktree, with the real Pants and engine —
and said plainly that it is a rebuild, not the recorded digest."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from uo.local import sources
from uo.local.rebuild import rebuilt_tag, split_reference, wanted
from uo.local.reconcile import MissingImageError

# A registry nobody runs: nothing can be pulled, as on a fresh machine.
NOWHERE = "127.0.0.1:5999"
RECORDED = "sha256:" + "e" * 64


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("rebuild") / "repo"
    git(Path.cwd(), "clone", "-q", "--no-hardlinks", os.environ["UO_REPO_ROOT"], str(target))
    return target


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    connected = docker.from_env()
    yield connected
    connected.close()


def record(clone: Path, environment: str, tag: str, digest: str) -> None:
    folder = clone / "infra/environments" / environment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db.yaml").write_text(
        f'database:\n  internal:\n    image: {{tag: "{tag}", digest: "{digest}"}}\n'
    )


def test_references_and_what_infra_records_of_them(clone: Path) -> None:
    assert split_reference("r:5000/unifyops/user-service:abc1234") == (
        "unifyops/user-service",
        "abc1234",
        "",
    )
    assert split_reference(f"r:5000/unifyops/postgres@{RECORDED}") == (
        "unifyops/postgres",
        "",
        RECORDED,
    )
    record(clone, "recorded", "0123abc", RECORDED)
    (found,) = wanted(clone, "recorded", [f"{NOWHERE}/unifyops/postgres@{RECORDED}"])
    assert (found.repository, found.commit, found.digest) == (
        "unifyops/postgres",
        "0123abc",
        RECORDED,
    )


def test_an_image_without_a_commit_of_this_repository_is_refused_before_any_change(
    clone: Path, client: docker.DockerClient
) -> None:
    reference = f"{NOWHERE}/unifyops/user-service:not-a-commit"
    with pytest.raises(MissingImageError, match="not recorded with a commit") as refused:
        sources.pull_missing(client, [reference], print, rebuild_from=(clone, "nowhere"))
    assert reference in str(refused.value)
    assert git(clone, "worktree", "list").count("\n") == 0  # no worktree was made


def test_a_recorded_image_in_no_registry_is_built_from_its_commit(
    clone: Path, client: docker.DockerClient
) -> None:
    commit = git(clone, "rev-parse", "HEAD")
    record(clone, "fresh", commit, RECORDED)
    reference = f"{NOWHERE}/unifyops/postgres@{RECORDED}"
    (item,) = wanted(clone, "fresh", [reference])
    kept = ":".join(rebuilt_tag(item))
    with_suppressed_missing(client, kept)
    said: list[str] = []
    try:
        substitutes = sources.pull_missing(
            client, [reference], said.append, rebuild_from=(clone, "fresh")
        )
        image = client.images.get(substitutes[reference])
        assert image.labels["org.opencontainers.image.revision"] == commit
        assert kept in image.tags
        plainly = [line for line in said if "not byte-identical" in line]
        assert plainly, said
        assert RECORDED[:19] in plainly[0]
        assert git(clone, "worktree", "list").count("\n") == 0  # the worktree is gone

        # A second `uo up` reuses the rebuild instead of building again.
        said.clear()
        again = sources.pull_missing(
            client, [reference], said.append, rebuild_from=(clone, "fresh")
        )
        assert again == substitutes
        assert any("made earlier" in line for line in said), said
        assert not any("throwaway worktree" in line for line in said), said
    finally:
        with_suppressed_missing(client, kept)


def with_suppressed_missing(client: docker.DockerClient, reference: str) -> None:
    """Remove a tag if it is there (the image stays when other tags name it)."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(reference)
