"""`uo affected`: the images a change affects, with the reasons, as text or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from uo.errors import EXIT_OK
from uo.output import TEXT, add_output_option, emit

DESCRIPTION = (
    "List the images a change affects: Pants' dependency graph (changed files, their targets "
    "and everything depending on them), plus the lockfile per pinned requirement, the base image "
    "package lists and the build definitions. Every image kind is included: a stack's app, api "
    "and service, the shared database image and the edge of `uo up`; stack and tier come from "
    "the docker_image target's labels and repository."
)


def add_since(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", default="origin/main", help="git ref to compare with (default: origin/main)"
    )


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "affected", help="list the images a change affects", description=DESCRIPTION
    )
    add_since(parser)
    add_output_option(parser, "a list of {address, stack, tier, repository, dockerfile, reasons}")
    parser.set_defaults(run=run)


def records(since: str) -> list[dict[str, Any]]:
    from uo.affected import affected_images
    from uo.repo import find_repo_root

    repo = find_repo_root()
    print(f"uo: computing images affected since {since} ...", file=sys.stderr)
    return [
        {
            "address": image.unit.address,
            "stack": image.unit.stack,
            "tier": image.unit.tier,
            "repository": image.unit.repository,
            "dockerfile": image.unit.dockerfile,
            "reasons": sorted(image.reasons),
        }
        for image in affected_images(repo, since)
    ]


def run(options: argparse.Namespace) -> int:
    found = records(options.since)
    if options.output != TEXT:
        emit(found, options.output)
    elif not found:
        print("no images affected")
    else:
        for record in found:
            print(
                f"{record['repository']:<28} {record['address']}  ({'; '.join(record['reasons'])})"
            )
    return EXIT_OK
