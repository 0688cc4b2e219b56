"""`uo build` and `uo publish`: package the affected or named images with Pants; `publish` then
pushes them to the target registry (uo.publishing: SHA tags never move) and records what the
registry holds for them in the release manifest."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from unifyops_core.naming import ENVIRONMENTS
from uo.errors import EXIT_OK, ImageKindError


def register(commands: Any) -> None:
    for name, text in (
        ("build", "build the affected (or named) images with Pants"),
        ("publish", "build and push the affected (or named) images, then record their digests"),
    ):
        parser = commands.add_parser(
            name,
            help=text,
            description=text[0].upper() + text[1:] + ". Every image kind: tiers, the database "
            "image and the edge.",
        )
        selection = parser.add_mutually_exclusive_group(required=True)
        selection.add_argument("--since", help="the images affected since this git ref")
        selection.add_argument(
            "--image", action="append", help="a docker_image address (repeatable)"
        )
        if name == "publish":
            parser.add_argument(
                "--output",
                type=Path,
                default=Path("dist/images.json"),
                help="release manifest to write (default: dist/images.json)",
            )
            target = parser.add_mutually_exclusive_group()
            target.add_argument(
                "--env",
                choices=ENVIRONMENTS,
                help="push to this environment's registry (infra/environments/<env>/env.yaml, "
                "or $UO_REGISTRY)",
            )
            target.add_argument(
                "--registry",
                help="push to this registry, host[:port][/namespace] (default: $UO_REGISTRY, "
                "else the local one, 127.0.0.1:5000)",
            )
        parser.set_defaults(run=run, publish=name == "publish")


def _named_images(pants: Any, specs: list[str]) -> list[str]:
    """The docker_image addresses of ``--image`` arguments; anything else is refused."""
    units = pants.images(*specs)
    found = {unit.address for unit in units}
    named = [spec for spec in specs if ":" in spec and not spec.endswith(":")]
    missing = [spec for spec in named if spec not in found]
    if missing or not units:
        raise ImageKindError(
            f"not a docker_image target: {', '.join(missing or specs)} "
            "(./pants list --filter-target-type=docker_image :: lists them)"
        )
    return [unit.address for unit in units]


def run(options: argparse.Namespace) -> int:
    from uo.affected import affected_images
    from uo.pants_runner import Pants
    from uo.repo import find_repo_root

    repo = find_repo_root()
    pants = Pants(repo)
    if options.image:
        addresses = _named_images(pants, options.image)
    else:
        addresses = [image.address for image in affected_images(repo, options.since, pants)]
    if not addresses:
        print("no images to build")
        return EXIT_OK
    goal = "publish" if options.publish else "package"
    print(f"uo: {goal} {len(addresses)} image(s): {', '.join(addresses)}", file=sys.stderr)
    # Pants builds the images in parallel, as far as the engine and the machine allow.
    started = time.monotonic()
    pants.run("package", *addresses)
    print(f"uo: built in {time.monotonic() - started:.1f} s", file=sys.stderr)
    if not options.publish:
        return EXIT_OK
    started = time.monotonic()
    status = _publish(repo, addresses, options)
    print(f"uo: pushed and recorded in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return status


def _publish(repo: Path, addresses: list[str], options: argparse.Namespace) -> int:
    import docker

    from uo.images import write_manifest
    from uo.publishing import built_images, publish
    from uo.registry import Registry, environment_registry, local_registry

    if options.env:
        address = environment_registry(repo, options.env)
    else:
        address = options.registry or local_registry()
    images = built_images(repo / "dist", addresses)
    with Registry(address) as registry:
        engine = docker.from_env()
        try:
            done = publish(engine, registry, images)
        finally:
            engine.close()
    for image in done.unchanged:
        print(f"{image.repository}:{image.tag} already in {address} (same image); not pushed")
    manifest = options.output if options.output.is_absolute() else repo / options.output
    recorded = write_manifest([(address, i.repository, i.tag) for i in images], manifest)
    for published in recorded:
        print(
            f"{published.repository}:{published.tag} -> {published.digest} "
            f"({published.stack}/{published.tier})"
        )
    print(f"recorded {len(recorded)} images in {manifest}")
    return EXIT_OK
