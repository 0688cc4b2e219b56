"""`uo build` and `uo publish`: package (and push) the affected or named images with Pants, then
record what the registry holds for them in the release manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from uo.errors import EXIT_OK


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
        parser.set_defaults(run=run, publish=name == "publish")


def run(options: argparse.Namespace) -> int:
    from uo.affected import affected_images
    from uo.images import published_tags, write_manifest
    from uo.pants_runner import Pants
    from uo.repo import find_repo_root

    repo = find_repo_root()
    pants = Pants(repo)
    if options.image:
        units = pants.images(*options.image)  # also proves each address is a docker_image
        addresses = [unit.address for unit in units]
    else:
        addresses = [image.address for image in affected_images(repo, options.since, pants)]
    if not addresses:
        print("no images to build")
        return EXIT_OK
    goal = "publish" if options.publish else "package"
    print(f"uo: {goal} {len(addresses)} image(s): {', '.join(addresses)}", file=sys.stderr)
    # Pants builds the images in parallel, as far as the engine and the machine allow.
    if not options.publish:
        pants.run("package", *addresses)
        return EXIT_OK
    report = repo / "dist/publish.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    pants.run("publish", f"--publish-output={report}", *addresses)
    manifest = options.output if options.output.is_absolute() else repo / options.output
    recorded = write_manifest(published_tags(report), manifest)
    for image in recorded:
        print(f"{image.repository}:{image.tag} -> {image.digest} ({image.stack}/{image.tier})")
    print(f"recorded {len(recorded)} images in {manifest}")
    return EXIT_OK
