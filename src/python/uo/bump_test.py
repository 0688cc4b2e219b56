"""uo bump on throwaway git repositories holding a copy of the real infra/ files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from unifyops_core.naming import STACKS
from uo.bump import BumpError, Release, bump, not_recorded, releases_from_manifest
from uo.errors import ImageKindError

DIGEST = "sha256:" + "ab" * 32
NEW_TAG = "1234567890abcdef1234567890abcdef12345678"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(Path.cwd() / "infra/environments", root / "infra/environments")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@unifyops.invalid")
    git(root, "config", "user.name", "ci")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def release(tier: str = "api", stack: str = "user") -> Release:
    return Release(stack=stack, tier=tier, tag=NEW_TAG, digest=DIGEST, core_version="0.2.0")


def test_bump_writes_only_the_released_lines_and_keeps_comments(repo: Path) -> None:
    before = (repo / "infra/environments/dev/user.yaml").read_text()
    commit = bump(repo, "dev", [release()])
    assert commit
    after = (repo / "infra/environments/dev/user.yaml").read_text()
    assert after.splitlines()[0] == before.splitlines()[0]  # the header comment survives
    diff = git(repo, "show", "--format=", "--unified=0", "HEAD")
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    removed = [line for line in changed if line.startswith("-")]
    added = [line for line in changed if line.startswith("+")]
    assert len(removed) == 2, changed  # the coreVersion line and the api image line, nothing else
    allowed = ("coreVersion", NEW_TAG, DIGEST, "image:")
    assert all(any(part in line for part in allowed) for line in added), changed
    data = YAML().load(after)
    assert data["tiers"]["api"]["image"] == {"tag": NEW_TAG, "digest": DIGEST}
    assert data["coreVersion"] == "0.2.0"
    assert data["tiers"]["service"]["image"]["tag"] != NEW_TAG
    assert git(repo, "status", "--porcelain") == ""
    assert "user-api" in git(repo, "log", "-1", "--format=%B")


def test_other_stacks_and_environments_are_untouched(repo: Path) -> None:
    bump(repo, "dev", [release()])
    assert git(repo, "show", "--name-only", "--format=", "HEAD").splitlines() == [
        "infra/environments/dev/user.yaml"
    ]


def test_a_second_bump_with_the_same_images_commits_nothing(repo: Path) -> None:
    assert bump(repo, "dev", [release()])
    head = git(repo, "rev-parse", "HEAD")
    assert bump(repo, "dev", [release()]) is None
    assert git(repo, "rev-parse", "HEAD") == head


def test_one_commit_for_many_images(repo: Path) -> None:
    bump(repo, "staging", [release("api"), release("service"), release("api", "auth")])
    assert git(repo, "rev-list", "--count", "HEAD") == "2"
    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()) == [
        "infra/environments/staging/auth.yaml",
        "infra/environments/staging/user.yaml",
    ]


def test_git_revert_restores_the_previous_state(repo: Path) -> None:
    before = (repo / "infra/environments/dev/user.yaml").read_text()
    commit = bump(repo, "dev", [release()])
    assert commit
    git(repo, "revert", "--no-edit", commit)
    assert (repo / "infra/environments/dev/user.yaml").read_text() == before


def test_push_rebases_when_the_branch_moved(tmp_path: Path, repo: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main")
    # Someone else pushes a commit first (to another stack's file).
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "config", "user.email", "o@unifyops.invalid")
    git(other, "config", "user.name", "other")
    (other / "infra/environments/dev/auth.yaml").write_text(
        (other / "infra/environments/dev/auth.yaml").read_text() + "# x\n"
    )
    git(other, "commit", "-qam", "their change")
    git(other, "push", "-q")

    bump(repo, "dev", [release()], push=True)
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["release(dev): 1 image(s)", "their change"]


def test_refuses_uncommitted_infra_changes(repo: Path) -> None:
    (repo / "infra/environments/dev/user.yaml").write_text("edited: true\n")
    with pytest.raises(BumpError, match="uncommitted"):
        bump(repo, "dev", [release()])


def test_manifest_parsing_and_errors(tmp_path: Path) -> None:
    manifest = tmp_path / "images.json"
    manifest.write_text(json.dumps({"images": [
        {"stack": "user", "tier": "api", "tag": "abc", "digest": DIGEST, "core_version": "0.1.0"},
        {"stack": "shared", "tier": "database", "tag": "abc", "digest": DIGEST},
    ]}))  # fmt: skip
    assert releases_from_manifest(manifest) == [
        Release("user", "api", "abc", DIGEST, "0.1.0"),
        Release("shared", "database", "abc", DIGEST, None),
    ]
    manifest.write_text("not json")
    with pytest.raises(BumpError, match="not a release manifest"):
        releases_from_manifest(manifest)


def test_the_database_image_goes_into_every_stack_file_of_the_environment(repo: Path) -> None:
    database = Release("shared", "database", NEW_TAG, DIGEST, None)
    cores = {
        stack: YAML().load((repo / f"infra/environments/staging/{stack}.yaml").read_text())[
            "coreVersion"
        ]
        for stack in STACKS
    }
    commit = bump(repo, "staging", [database])
    assert commit
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert sorted(changed) == [f"infra/environments/staging/{s}.yaml" for s in sorted(STACKS)]
    for stack in STACKS:
        data = YAML().load((repo / f"infra/environments/staging/{stack}.yaml").read_text())
        assert data["database"]["internal"]["image"] == {"tag": NEW_TAG, "digest": DIGEST}
        assert data["database"]["internal"]["storage"]  # the rest of the block is kept
        assert data["coreVersion"] == cores[stack]  # the database carries no core
    assert "shared-database" in git(repo, "log", "-1", "--format=%B")


def test_a_stack_on_an_external_database_keeps_it(repo: Path) -> None:
    path = repo / "infra/environments/dev/auth.yaml"
    data = YAML().load(path.read_text())
    del data["database"]["internal"]
    data["database"]["external"] = {"host": "db.example.invalid", "port": 5432}
    with path.open("w") as file:
        YAML().dump(data, file)
    git(repo, "commit", "-qam", "auth uses an external database")
    bump(repo, "dev", [Release("shared", "database", NEW_TAG, DIGEST, None)])
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert "infra/environments/dev/auth.yaml" not in changed
    assert len(changed) == 2
    assert "internal" not in YAML().load(path.read_text())["database"]


def test_the_edge_is_reported_and_never_written(repo: Path) -> None:
    edge = Release("shared", "edge", NEW_TAG, DIGEST, None)
    assert not_recorded([edge, release()]) == [edge]
    head = git(repo, "rev-parse", "HEAD")
    assert bump(repo, "dev", [edge]) is None
    assert git(repo, "rev-parse", "HEAD") == head
    commit = bump(repo, "dev", [edge, release()])
    assert commit
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("release(dev): 1 image(s)")
    assert "edge" not in message


def test_an_unknown_kind_in_a_manifest_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "images.json"
    manifest.write_text(json.dumps({"images": [{"stack": "uo", "tier": "edge", "tag": "abc"}]}))
    with pytest.raises(ImageKindError, match="uo/edge"):
        releases_from_manifest(manifest)
