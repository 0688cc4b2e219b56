"""Publishing to the local registry (the one build-support/services/registry.sh runs) and recording
what was published: the digest of every tag and the labels of its image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import docker
import pytest

from images.built import built_images
from unifyops_core._version import __version__
from uo.images import RegistryError, record
from uo.registry import Registry

REGISTRY = "127.0.0.1:5000"


def test_pushed_images_are_recorded_with_their_digest_and_labels(tmp_path: Path) -> None:
    engine = docker.from_env()
    image = built_images()["unifyops/user-api"]
    repository, tag = image.reference.rsplit(":", 1)
    pushed_digest = None
    for line in engine.images.push(repository, tag=tag, stream=True, decode=True):
        assert "error" not in line, line
        pushed_digest = line.get("aux", {}).get("Digest", pushed_digest)
    assert pushed_digest

    dist = tmp_path / "dist"
    (info,) = [p for p in Path.cwd().rglob("*.docker-info.json") if "user_api" in str(p)]
    dist.mkdir()
    shutil.copy(info, dist / info.name)
    output = dist / "images.json"
    (recorded,) = record(dist, output)

    assert recorded.digest == pushed_digest
    assert (recorded.stack, recorded.tier, recorded.core_version) == ("user", "api", __version__)
    assert json.loads(output.read_text())["images"][0]["digest"] == pushed_digest
    with Registry(REGISTRY) as registry:  # TLS and the account registry.sh logged in with
        assert registry.manifest("unifyops/user-api", tag) is not None


def test_an_unpublished_tag_is_a_clear_error(tmp_path: Path) -> None:
    info = {
        "version": 1,
        "image_id": "0",
        "registries": [
            {
                "address": REGISTRY,
                "repository": "unifyops/never-pushed",
                "tags": [{"tag": "deadbeef"}],
            }
        ],
    }
    (tmp_path / "x.docker-info.json").write_text(json.dumps(info))
    with pytest.raises(RegistryError, match="is not in the registry"):
        record(tmp_path, tmp_path / "out.json")
