"""`uo images`: record the digests of images Pants already built and pushed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from uo.errors import EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "images",
        help="record the digests of the published images",
        description="For every image in Pants' docker-info files, ask the registry for the digest "
        "of its tag and its labels, and write them to a JSON manifest.",
    )
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="Pants' dist folder")
    parser.add_argument(
        "--output", type=Path, default=Path("dist/images.json"), help="where to write the manifest"
    )
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.images import record

    recorded = record(options.dist, options.output)
    for image in recorded:
        print(f"{image.repository}:{image.tag} -> {image.digest} ({image.stack}/{image.tier})")
    print(f"recorded {len(recorded)} images in {options.output}")
    return EXIT_OK
