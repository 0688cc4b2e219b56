"""The app bundles build offline: src/web/bundle.sh (what `pants package` runs for every app)
installs every npm package from the cache ./pants prefetched, and builds with no network at all.

The build runs in a network namespace of its own with no interface but loopback (`unshare
--net`), so a single request to a package index would fail it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path("src/web")  # the workspace files this test depends on, in its sandbox
APP = "user_app"


def workspace_copy(tmp_path: Path) -> Path:
    """The npm workspace with one app's sources and every workspace's manifest."""
    copy = tmp_path / "web"
    copy.mkdir()
    for name in ("package.json", "package-lock.json", "tsconfig.json", "bundle.sh"):
        shutil.copy2(WEB / name, copy / name)
    skip = shutil.ignore_patterns("node_modules", "dist", "*.test.*")
    for workspace in ("shared", APP):
        shutil.copytree(WEB / workspace, copy / workspace, ignore=skip)
    for manifest in WEB.glob("*/package.json"):
        (copy / manifest.parent.name).mkdir(exist_ok=True)
        shutil.copy2(manifest, copy / manifest.parent.name / "package.json")
    return copy


def bundle_without_network(copy: Path, npm_cache: str | None) -> subprocess.CompletedProcess[str]:
    # Without root, a user namespace lends the rights to make the network namespace.
    isolate = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    env = {key: value for key, value in os.environ.items() if key != "UO_NPM_CACHE"}
    env["HOME"] = str(copy.parent)  # no ~/.npm of the machine's to fall back on
    if npm_cache is not None:
        env["UO_NPM_CACHE"] = npm_cache
    return subprocess.run(
        [*isolate, "bash", str(copy / "bundle.sh"), APP],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def npm_cache() -> str:
    cache = os.environ.get("UO_NPM_CACHE", "")
    if not (Path(cache) / ".complete-for").is_file():
        pytest.fail("UO_NPM_CACHE names no filled npm cache: run the tests through ./pants")
    return cache


def test_an_app_bundle_builds_from_the_cache_with_no_network(
    tmp_path: Path, npm_cache: str
) -> None:
    copy = workspace_copy(tmp_path)
    result = bundle_without_network(copy, npm_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    index = (copy / APP / "dist/index.html").read_text()
    scripts = list((copy / APP / "dist/assets").glob("index-*.js"))
    assert len(scripts) == 1
    assert scripts[0].name in index


def test_a_package_missing_from_the_cache_fails_the_build(tmp_path: Path) -> None:
    copy = workspace_copy(tmp_path)
    empty_cache = tmp_path / "empty-npm-cache"
    empty_cache.mkdir()
    result = bundle_without_network(copy, str(empty_cache))
    assert result.returncode != 0
    assert "ENOTCACHED" in result.stderr
    assert not (copy / APP / "dist").exists()


def test_without_a_cache_the_build_says_how_to_get_one(tmp_path: Path) -> None:
    copy = workspace_copy(tmp_path)
    result = bundle_without_network(copy, None)
    assert result.returncode == 1
    assert "UO_NPM_CACHE names no npm cache; run the build through ./pants" in result.stderr
