"""Image benchmarks (issue: pex-based images). Prints its figures side by side; asserts nothing.

    python3 tests/bench/images_bench.py [--skip-cold] [--only start]

1. layer reuse: build all images, change one line in one service, rebuild: wall times, and the
   bytes of layers the change created as a share of that image's size (target <= 3 %);
2. start -> ready for every service, gateway and app image (target <= 1 s), every image's size;
3. reproducibility: the service pex files packaged twice without Pants' cache, byte-compared, and
   the image IDs of two builds of the same commit.
Run it from the repository root on a machine where build-support/build has run once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every Python tier by its folder (unifyops/<domain>/<stack>/<stack>_<tier>, auth-api first):
# this script runs on the system Python, without the repository's packages on its path.
SERVICES = {
    path.name.replace("_", "-"): path.relative_to(ROOT).as_posix()
    for path in sorted((ROOT / "src/python/unifyops").glob("*/*/*_*"))
    if (path / "BUILD").is_file()
}
CHANGED = "user-service"
PASSWORD = "benchmark-only-password"
CHANGED_FILE = ROOT / SERVICES[CHANGED] / "profiles.py"


def run(*command: str, capture: bool = False) -> str:
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=capture)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-20:])
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{tail}")
    return result.stdout if capture else ""


def timed(*command: str) -> float:
    started = time.monotonic()
    run(*command, capture=True)
    return time.monotonic() - started


def image_targets() -> list[str]:
    return [f"{path}:image" for path in SERVICES.values()]


def image_ref(name: str) -> str:
    path = SERVICES[name]
    info = json.loads(
        (ROOT / "dist" / path.replace("/", ".") / "image.docker-info.json").read_text()
    )
    return str(info["registries"][0]["tags"][0]["name"])


def built_images() -> dict[str, str]:
    """Every image dist/ names (what `pants package` built last), by repository."""
    found = {}
    for info_file in sorted((ROOT / "dist").glob("*/*.docker-info.json")):
        tag = json.loads(info_file.read_text())["registries"][0]["tags"][0]["name"]
        found[tag.rsplit(":", 1)[0].rsplit("/", 1)[-1]] = tag
    return found


def layers(ref: str) -> list[str]:
    found: list[str] = json.loads(
        run("docker", "image", "inspect", "-f", "{{json .RootFS.Layers}}", ref, capture=True)
    )
    return found


def size(ref: str) -> int:
    return int(run("docker", "image", "inspect", "-f", "{{.Size}}", ref, capture=True))


def layer_bytes(ref: str, wanted: set[str]) -> int:
    """Uncompressed bytes of the layers with these diff IDs, read from `docker save`."""
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "image.tar"
        run("docker", "save", "-o", str(archive), ref)
        total = 0
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.name.endswith("layer.tar") or member.name.startswith("blobs/sha256/"):
                    data = tar.extractfile(member)
                    if data is None:
                        continue
                    if f"sha256:{hashlib.sha256(data.read()).hexdigest()}" in wanted:
                        total += member.size
        return total


def bench_layer_reuse(skip_cold: bool) -> dict[str, object]:
    figures: dict[str, object] = {}
    if not skip_cold:
        for name in SERVICES:
            if (
                ROOT / "dist" / SERVICES[name].replace("/", ".") / "image.docker-info.json"
            ).exists():
                subprocess.run(
                    ["docker", "rmi", "-f", image_ref(name)], cwd=ROOT, capture_output=True
                )
        subprocess.run(["docker", "builder", "prune", "-af"], cwd=ROOT, capture_output=True)
        figures["cold package (s)"] = timed(
            "./pants", "--no-local-cache", "package", *image_targets()
        )
    figures["warm package, no change (s)"] = timed("./pants", "package", *image_targets())
    before = image_ref(CHANGED)
    old_layers = set(layers(before))
    original = CHANGED_FILE.read_text()
    try:
        CHANGED_FILE.write_text(original + "\n# benchmark: a one-line change\n")
        figures["package after a one-line change (s)"] = timed(
            "./pants", "package", *image_targets()
        )
        after = image_ref(CHANGED)
        new_layers = set(layers(after)) - old_layers
        new_bytes = layer_bytes(after, new_layers)
        figures["new layers after the change (bytes)"] = new_bytes
        figures["image size after the change (bytes)"] = size(after)
        figures["new layers / image size (%)"] = round(100 * new_bytes / size(after), 2)
    finally:
        CHANGED_FILE.write_text(original)
    return figures


def wait_ready(url: str, budget: float = 30) -> float:
    """Seconds until the URL answers 200, or NaN when it never does within the budget."""
    started = time.monotonic()
    while time.monotonic() - started < budget:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    return float("nan")


def started_at(container: str) -> float:
    """When the engine started the container's process (its StartedAt), as a Unix time."""
    stamp = run("docker", "inspect", "-f", "{{.State.StartedAt}}", container, capture=True).strip()
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    whole = datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{fraction or 0}")


def bench_start_and_size() -> dict[str, object]:
    figures: dict[str, object] = {}
    network = "uo-bench"
    subprocess.run(["docker", "network", "create", network], capture_output=True)
    db = "uo-bench-db"
    postgres_info = json.loads(
        (ROOT / "dist/src.docker.postgres/image.docker-info.json").read_text()
    )
    postgres = postgres_info["registries"][0]["tags"][0]["name"]
    volumes = ["--tmpfs", "/tmp", "--tmpfs", "/var/run/postgresql"]
    volumes += ["--tmpfs", "/var/lib/postgresql/data"]
    secret = ["-e", f"POSTGRES_PASSWORD={PASSWORD}"]
    run(
        "docker",
        "run",
        "-d",
        "--name",
        db,
        "--network",
        network,
        "--read-only",
        *volumes,
        *secret,
        postgres,
    )
    time.sleep(4)
    try:
        # Each Python tier and each app (the apps need only their bundle to be ready).
        started_images = [
            (name, image_ref(name), 8001 if name.endswith("service") else 8002) for name in SERVICES
        ] + [
            (repository, ref, 3000)
            for repository, ref in built_images().items()
            if "-app" in repository
        ]
        for index, (name, ref, port) in enumerate(started_images):
            host_port = 19000 + index
            container = f"uo-bench-{name}"
            started = time.monotonic()
            settings = ["-e", f"UO_DATABASE__HOST={db}", "-e", f"UO_DATABASE__PASSWORD={PASSWORD}"]
            publish = ["-p", f"127.0.0.1:{host_port}:{port}"]
            flags = ["--network", network, "--read-only", "--tmpfs", "/tmp", *publish, *settings]
            run("docker", "run", "-d", "--name", container, *flags, ref)
            ready = wait_ready(f"http://127.0.0.1:{host_port}/health/ready")
            ready_at = time.time()
            elapsed = time.monotonic() - started
            figures[f"{name}: docker run -> ready (s)"] = (
                round(elapsed, 2) if ready == ready else "not ready"
            )
            # The process's own part: from the engine starting it (after creating the container's
            # file system, which the vfs driver copies whole) to its first 200.
            figures[f"{name}: process start -> ready (s)"] = (
                round(ready_at - started_at(container), 2) if ready == ready else "not ready"
            )
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        for repository, ref in built_images().items():
            figures[f"{repository}: image size (MB)"] = round(size(ref) / 1e6, 1)
    finally:
        subprocess.run(["docker", "rm", "-f", db], capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
    return figures


def pex_hashes() -> dict[str, str]:
    hashes = {}
    for folder in sorted((ROOT / "dist").glob("src.python.unifyops.*")):
        for pex in sorted(folder.glob("*.pex")):
            digest = hashlib.sha256()
            for file in sorted(p for p in pex.rglob("*") if p.is_file()):
                digest.update(file.relative_to(pex).as_posix().encode())
                digest.update(file.read_bytes())
            hashes[f"{folder.name}/{pex.name}"] = digest.hexdigest()
    return hashes


def bench_reproducibility() -> dict[str, object]:
    pex_targets = [f"{path}:{name}" for path in SERVICES.values() for name in ("deps", "srcs")]
    run("./pants", "--no-local-cache", "package", *pex_targets, capture=True)
    first = pex_hashes()
    run("./pants", "--no-local-cache", "package", *pex_targets, capture=True)
    second = pex_hashes()
    run(
        "./pants", "package", *image_targets(), capture=True
    )  # the images of this commit, as they are
    ids_first = {
        name: run("docker", "image", "inspect", "-f", "{{.Id}}", image_ref(name), capture=True)
        for name in SERVICES
    }
    run("./pants", "package", *image_targets(), capture=True)
    ids_second = {
        name: run("docker", "image", "inspect", "-f", "{{.Id}}", image_ref(name), capture=True)
        for name in SERVICES
    }
    return {
        "pex files compared": len(first),
        "pex files byte-identical across clean builds": sum(
            first[k] == second.get(k) for k in first
        ),
        "image IDs identical across two builds of one commit": sum(
            ids_first[k] == ids_second[k] for k in ids_first
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold (cache-less) build")
    parser.add_argument(
        "--only",
        choices=["reuse", "start", "reproducibility"],
        help="one section (start: the images dist/ names, as built; no build)",
    )
    options = parser.parse_args(argv)
    if "DOCKER_HOST" not in os.environ:
        os.environ["DOCKER_HOST"] = "unix:///var/lib/unifyops-docker/docker.sock"
    keys = [options.only] if options.only else ["reuse", "start", "reproducibility"]
    sections: dict[str, dict[str, object]] = {}
    if "reuse" in keys:
        sections["layer reuse"] = bench_layer_reuse(options.skip_cold)
    if "start" in keys:
        sections["start and size"] = bench_start_and_size()
    if "reproducibility" in keys:
        sections["reproducibility"] = bench_reproducibility()
    for section, figures in sections.items():
        print(f"\n## {section}")
        width = max(len(name) for name in figures)
        for name, value in figures.items():
            print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
