"""The release loop end to end on the real engine and the local registry, in a throwaway clone:
one-line change in one service -> affected -> publish (build + push + digest) -> bump dev ->
the dev file holds the new digest, nothing else changed; git revert restores it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from uo.affected import affected_images
from uo.cli import main

USER_SERVICE = "src/python/unifyops/identity/user/user_service:image"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    source = Path(os.environ["UO_REPO_ROOT"])
    target = tmp_path_factory.mktemp("release") / "repo"
    git(source.parent, "clone", "-q", "--no-hardlinks", str(source), str(target))
    git(target, "config", "user.email", "release@unifyops.invalid")
    git(target, "config", "user.name", "release")
    yield target
    pid_file = target / ".pants.d/pids/pantsd/pid"
    if pid_file.is_file():
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def test_change_affected_publish_bump_revert(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UO_REPO_ROOT", str(clone))
    profiles = clone / "src/python/unifyops/identity/user/user_service/profiles.py"
    profiles.write_text(profiles.read_text() + "\n# a one-line change to release\n")
    git(clone, "commit", "-qam", "user-service: a one-line change")

    assert [image.address for image in affected_images(clone, "HEAD~1")] == [USER_SERVICE]
    assert main(["publish", "--since", "HEAD~1", "--output", "dist/images.json"]) == 0
    (published,) = json.loads((clone / "dist/images.json").read_text())["images"]
    assert (published["repository"], published["tag"]) == (
        "unifyops/user-service",
        git(clone, "rev-parse", "HEAD"),
    )
    assert published["digest"].startswith("sha256:")

    before = {path: path.read_text() for path in (clone / "infra/environments").rglob("*.yaml")}
    assert main(["bump", "--env", "dev", "--manifest", "dist/images.json"]) == 0
    assert (
        git(clone, "show", "--name-only", "--format=", "HEAD") == "infra/environments/dev/user.yaml"
    )
    dev_user = YAML().load((clone / "infra/environments/dev/user.yaml").read_text())
    assert dev_user["tiers"]["service"]["image"]["digest"] == published["digest"]
    assert dev_user["coreVersion"] == published["core_version"]
    unchanged = [p for p in before if p.name != "user.yaml" or p.parent.name != "dev"]
    assert all(p.read_text() == before[p] for p in unchanged)

    release_commit = git(clone, "rev-parse", "HEAD")
    assert main(["bump", "--env", "dev", "--manifest", "dist/images.json"]) == 0  # idempotent
    assert git(clone, "rev-parse", "HEAD") == release_commit
    git(clone, "revert", "--no-edit", "HEAD")
    dev_file = clone / "infra/environments/dev/user.yaml"
    assert dev_file.read_text() == before[dev_file]
