"""The list of every image is read from Pants once per state of the image definitions: `uo
affected` asks for it on every run, and the definitions rarely change. Pants itself is replaced
here by a counter (the real `pants peek` runs in affected_test and the release tests)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from uo.pants_runner import Pants

TARGET = {
    "address": "src/python/unifyops/identity/user/user_service:image",
    "target_type": "docker_image",
    "repository": "unifyops/user-service",
    "image_labels": {"io.unifyops.stack": "user", "io.unifyops.tier": "service"},
    "extra_build_args": ["UO_BASE_PYTHON_IMAGE", "UO_GIT_SHA"],
    "instructions": ["FROM ${UO_BASE_PYTHON_IMAGE}"],
}


class CountingPants(Pants):
    def __init__(self, repo: Path) -> None:
        super().__init__(repo)
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str) -> list[str]:
        self.calls.append(args)
        return [json.dumps([TARGET])]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UO_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "repo"
    (root / "src/svc").mkdir(parents=True)
    (root / "pants.toml").write_text('[GLOBAL]\npants_version = "2.17.1"\n')
    (root / "src/svc/BUILD").write_text("docker_image(name='image')\n")
    (root / "src/svc/app.py").write_text("print('hi')\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


def test_unchanged_definitions_are_not_asked_of_pants_again(repo: Path) -> None:
    first = CountingPants(repo).images()
    again = CountingPants(repo)
    assert again.images() == first
    assert again.calls == []
    assert [unit.repository for unit in first] == ["unifyops/user-service"]


def test_a_source_change_keeps_the_list_but_a_build_file_change_asks_again(repo: Path) -> None:
    CountingPants(repo).images()
    (repo / "src/svc/app.py").write_text("print('changed')\n")
    unchanged = CountingPants(repo)
    unchanged.images()
    assert unchanged.calls == []
    (repo / "src/svc/BUILD").write_text("docker_image(name='image', image_tags=['x'])\n")
    edited = CountingPants(repo)
    edited.images()
    assert edited.calls == [("peek", "--filter-target-type=docker_image", "::")]


def test_a_new_untracked_build_file_and_pants_toml_count_too(repo: Path) -> None:
    CountingPants(repo).images()
    (repo / "src/other").mkdir()
    (repo / "src/other/BUILD").write_text("files(name='f', sources=['*'])\n")
    added = CountingPants(repo)
    added.images()
    assert len(added.calls) == 1
    (repo / "pants.toml").write_text('[GLOBAL]\npants_version = "2.17.2"\n')
    configured = CountingPants(repo)
    configured.images()
    assert len(configured.calls) == 1


def test_a_damaged_cache_file_is_replaced_and_named_specs_are_never_cached(repo: Path) -> None:
    CountingPants(repo).images()
    for cached in (repo.parent / "cache/uo-images").glob("*.json"):
        cached.write_text("{not json")
    damaged = CountingPants(repo)
    assert [unit.address for unit in damaged.images()] == [TARGET["address"]]
    assert len(damaged.calls) == 1
    named = CountingPants(repo)
    named.images("src/svc:image")
    named.images("src/svc:image")
    assert len(named.calls) == 2


def test_outside_a_git_checkout_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    for _ in range(2):
        pants = CountingPants(plain)
        pants.images()
        assert len(pants.calls) == 1
    assert not (tmp_path / "cache/uo-images").exists()
