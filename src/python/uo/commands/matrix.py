"""`uo matrix`: the affected images as a GitHub Actions matrix, one build job per image."""

from __future__ import annotations

import argparse
import json
from typing import Any

from uo.commands.affected import add_since, records
from uo.errors import EXIT_OK

KEYS = ("address", "stack", "tier", "repository", "dockerfile")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "matrix",
        help='print a GitHub Actions matrix ({"include": [...]}) of the affected images',
        description='Print {"include": [{address, stack, tier, repository, dockerfile}, ...]} '
        "for the images `uo affected` selects, on one line (for $GITHUB_OUTPUT). Shared images "
        "have stack 'shared' (tier 'database' or 'edge'); dockerfile is null when the target's "
        "instructions generate it.",
    )
    add_since(parser)
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    include = [{key: record[key] for key in KEYS} for record in records(options.since)]
    print(json.dumps({"include": include}))
    return EXIT_OK
