"""uo.reproducible on the real engine: two builds of the same inputs, made at different moments
from files with different times, become one image; different contents stay different images."""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Iterator

import docker
import pytest

from uo.reproducible import EPOCH, EPOCH_ISO, reproduce

# A build step that writes a file (its time is the build's) on top of a copied one.
DOCKERFILE = """FROM {base}
COPY payload /app/payload
RUN ["python3", "-c", "open('/app/written', 'w').write('made by a step')"]
LABEL purpose=uo-reproducible-test
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(
        base_url=os.environ.get("DOCKER_HOST") or "unix:///var/lib/unifyops-docker/docker.sock"
    )
    yield client
    for image in client.images.list("uo-reproducible-test"):
        client.images.remove(image.id, force=True)
    client.close()


@pytest.fixture(scope="module")
def base(engine: docker.DockerClient) -> str:
    """The runtime base image (the smallest with a Python for the RUN step)."""
    tags = [t for i in engine.images.list("unifyops/base-python") for t in i.tags]
    if not tags:
        pytest.fail("no unifyops/base-python image: build-support/images/prepare.sh builds it")
    return str(tags[0])


def build(engine: docker.DockerClient, base: str, tag: str, content: str, mtime: float) -> str:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", DOCKERFILE.format(base=base)), ("payload", content)):
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size, member.mtime = len(data), mtime
            tar.addfile(member, io.BytesIO(data))
    context.seek(0)
    image, _ = engine.images.build(
        fileobj=context, custom_context=True, tag=tag, rm=True, nocache=True
    )
    return str(image.id)


def saved_config(engine: docker.DockerClient, reference: str) -> dict[str, object]:
    return dict(engine.images.get(reference).attrs)


def test_two_builds_of_the_same_inputs_become_one_image(
    engine: docker.DockerClient, base: str
) -> None:
    first = build(engine, base, "uo-reproducible-test:first", "same", mtime=time.time())
    time.sleep(1.1)  # a later build: other created times, other file times
    second = build(engine, base, "uo-reproducible-test:second", "same", mtime=time.time() - 99)
    assert first != second  # what the engine's builder makes of the same inputs

    one = reproduce(engine, "uo-reproducible-test:first")
    two = reproduce(engine, "uo-reproducible-test:second")
    assert one == two
    # The tags moved to the reproducible image, and it runs.
    assert engine.images.get("uo-reproducible-test:first").id == one
    output = engine.containers.run(
        one, ["python3", "-c", "print(open('/app/payload').read())"], remove=True
    )
    assert output.decode().strip() == "same"
    attrs = saved_config(engine, one)
    assert attrs["Created"] == EPOCH_ISO
    assert attrs["Container"] == ""  # no build container recorded
    assert attrs["Config"]["Labels"]["purpose"] == "uo-reproducible-test"  # type: ignore[index]


def test_file_times_are_clamped_and_the_base_layer_is_kept(
    engine: docker.DockerClient, base: str
) -> None:
    build(engine, base, "uo-reproducible-test:times", "times", mtime=time.time())
    image_id = reproduce(engine, "uo-reproducible-test:times")
    layers = engine.images.get(image_id).attrs["RootFS"]["Layers"]
    assert layers[0] == engine.images.get(base).attrs["RootFS"]["Layers"][0]
    saved = io.BytesIO(b"".join(engine.images.get(image_id).save(named=False)))
    with tarfile.open(fileobj=saved) as archive:
        names = [n for n in archive.getnames() if n.endswith("layer.tar")]
        times = []
        for name in names:
            data = archive.extractfile(name)
            assert data is not None
            with tarfile.open(fileobj=data) as layer:
                times += [member.mtime for member in layer.getmembers()]
    assert max(times) <= EPOCH


def test_different_contents_stay_different_images(engine: docker.DockerClient, base: str) -> None:
    build(engine, base, "uo-reproducible-test:a", "one content", mtime=EPOCH - 5)
    build(engine, base, "uo-reproducible-test:b", "another content", mtime=EPOCH - 5)
    assert reproduce(engine, "uo-reproducible-test:a") != reproduce(
        engine, "uo-reproducible-test:b"
    )


def test_reproducing_twice_changes_nothing(engine: docker.DockerClient, base: str) -> None:
    build(engine, base, "uo-reproducible-test:twice", "twice", mtime=time.time())
    once = reproduce(engine, "uo-reproducible-test:twice")
    assert reproduce(engine, "uo-reproducible-test:twice") == once
