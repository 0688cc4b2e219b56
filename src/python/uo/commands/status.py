"""`uo status`: the desired state of every environment, then what `uo up` runs here."""

from __future__ import annotations

import argparse
from typing import Any

from uo.errors import EXIT_OK
from uo.output import TEXT, add_output_option, emit

HEADER = ("ENV", "STACK", "TIER", "TAG", "DIGEST", "CORE")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="show what every env/stack/tier should run, what runs here, and any drift",
        description="Show the desired state in infra/ (every environment, stack and tier, the "
        "database included, with its image tag, digest and unifyops_core version), then what "
        "`uo up` runs on this machine, and where that drifted: a container stopped or removed "
        "by hand, or an image other than the digest infra/ records.",
    )
    add_output_option(
        parser,
        "the desired state only: a list of {environment, stack, tier, tag, digest, core_version} "
        "(null when unset)",
    )
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.repo import find_repo_root
    from uo.state import status_rows

    rows = status_rows(find_repo_root())
    if options.output != TEXT:
        keys = ("environment", "stack", "tier", "tag", "digest", "core_version")
        emit(
            [
                {key: (None if cell == "-" else cell) for key, cell in zip(keys, row, strict=True)}
                for row in rows
            ],
            options.output,
        )
        return EXIT_OK
    widths = [max(len(str(row[i])[:19]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print(
            "  ".join(str(cell)[:19].ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    from uo.local import commands as local

    local.print_running({(row[0], row[1], row[2]): row[4] for row in rows})
    return EXIT_OK
