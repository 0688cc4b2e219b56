"""Packaging the same commit twice on a clean machine gives identical image digests.

The clean machine is a Docker engine of its own (build-support/services/docker.sh on a fresh
data root) holding nothing: its base images are built from the Debian locks (base-images.sh,
mmdebstrap), then `uo publish` — in a clone of this commit, as a release job runs it — packages a
service image and an app image and pushes them to a throwaway registry. Then every image but the
bases is removed from that engine, the build cache with them, and the same commit is published
again to a second registry. Both registries must hold the same manifest digests, and publishing
the second build to the first registry finds the same images there (nothing to push, no refusal).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from uo.cli import main
from uo.registry_testutil import ThrowawayRegistry, throwaway_registry

IMAGES = {
    "unifyops/user-service": "src/python/unifyops/identity/user/user_service:image",
    "unifyops/user-app": "src/web:user_app_image",
}
BASES = ("python", "build")  # what those two images are built on


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    source = Path(os.environ["UO_REPO_ROOT"])
    target = tmp_path_factory.mktemp("reproducible") / "repo"
    git(source.parent, "clone", "-q", "--no-hardlinks", str(source), str(target))
    yield target
    pid_file = target / ".pants.d/pids/pantsd/pid"
    if pid_file.is_file():  # stop the clone's pantsd
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


@pytest.fixture(scope="module")
def clean_engine(clone: Path) -> Iterator[str]:
    """A private engine with nothing on it, and the bases built from the locks."""
    # A short root: the engine's socket path must fit a unix socket address.
    root = Path(
        subprocess.run(
            ["mktemp", "-d", "/tmp/uo-clean-engine.XXXXXX"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    env = {**os.environ, "UO_DOCKER_DIR": str(root), "UO_DOCKER_PRIVATE": "1"}
    started = subprocess.run(
        ["bash", str(clone / "build-support/services/docker.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr
    host = started.stdout.strip()
    try:
        built = subprocess.run(
            ["bash", str(clone / "build-support/images/base-images.sh"), *BASES],
            env={**os.environ, "DOCKER_HOST": host},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert built.returncode == 0, built.stderr
        yield host
    finally:
        _stop_engine(root)


def _stop_engine(root: Path) -> None:
    pid = int((root / "dockerd.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.5)
    # Whatever the engine left mounted under its root (it unmounts on a clean exit).
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ThrowawayRegistry]]:
    with (
        throwaway_registry(tmp_path_factory.mktemp("first")) as first,
        throwaway_registry(tmp_path_factory.mktemp("second")) as second,
    ):
        yield [first, second]


def publish(
    clone: Path,
    engine: str,
    registry: ThrowawayRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, str], str]:
    """`uo publish` of the two images from the clone: ({repository: digest}, what it printed)."""
    monkeypatch.chdir(clone)
    monkeypatch.setenv("UO_REPO_ROOT", str(clone))
    monkeypatch.setenv("DOCKER_HOST", engine)
    monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config))
    manifest = clone / "dist" / f"images-{registry.address.rsplit(':', 1)[1]}.json"
    argv = ["publish", "--registry", registry.address, "--output", str(manifest)]
    for address in IMAGES.values():
        argv += ["--image", address]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    recorded = json.loads(manifest.read_text())["images"]
    return {image["repository"]: image["digest"] for image in recorded}, out


def wipe_all_but_bases(host: str) -> None:
    """Every image but the bases off the engine: the build cache is the intermediate images."""
    engine = docker.DockerClient(base_url=host)

    def leftovers() -> list[docker.models.images.Image]:
        return [
            image
            for image in engine.images.list(all=True)
            if not any(tag.startswith("unifyops/base-") for tag in image.tags)
        ]

    try:
        for _ in range(10):  # a parent goes once the images built on it are gone
            for image in leftovers():
                with contextlib.suppress(docker.errors.APIError):
                    engine.images.remove(image.id, force=True)
        assert not leftovers()
        assert len(engine.images.list(all=True)) == len(BASES)
    finally:
        engine.close()


def test_the_same_commit_packaged_twice_on_a_clean_machine_gives_the_same_digests(
    clone: Path,
    clean_engine: str,
    registries: list[ThrowawayRegistry],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, _ = publish(clone, clean_engine, registries[0], monkeypatch, capsys)
    assert set(first) == set(IMAGES)

    wipe_all_but_bases(clean_engine)
    second, _ = publish(clone, clean_engine, registries[1], monkeypatch, capsys)
    assert second == first

    # The rebuild is the same release: its first registry already holds every image.
    again, out = publish(clone, clean_engine, registries[0], monkeypatch, capsys)
    assert again == first
    for repository in IMAGES:
        assert f"{repository}:{git(clone, 'rev-parse', 'HEAD')} already in" in out
