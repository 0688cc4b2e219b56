"""`uo where core VERSION`: which environments and stacks run a unifyops_core version."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unifyops_core.naming import STACKS
from uo.errors import EXIT_FAILURE, EXIT_OK
from uo.output import TEXT, add_output_option, emit


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "where",
        help="which environments and stacks run a unifyops_core version",
        description="List the (environment, stack) pairs whose images were built with a core "
        "version: what infra/ records for dev, staging and prod, and `local` (what `uo up` "
        "builds from this checkout). Exits 1 when nothing runs it, naming the versions that do.",
    )
    parser.add_argument(
        "what", choices=["core"], help="what to look for (core: a unifyops_core version)"
    )
    parser.add_argument("version", help="e.g. 0.1.5")
    add_output_option(parser, "[{environment, stack}, ...]")
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.repo import find_repo_root
    from uo.state import LOCAL, checkout_core_version, core_versions, where_core

    repo = find_repo_root()
    local = (
        [(LOCAL, stack) for stack in STACKS]
        if checkout_core_version(repo) == options.version
        else []
    )
    found = local + where_core(repo, options.version)
    if options.output != TEXT:
        emit([{"environment": env, "stack": stack} for env, stack in found], options.output)
    for env, stack in found if options.output == TEXT else []:
        note = "  (the working tree, via uo up)" if env == LOCAL else ""
        print(f"{env}/{stack}{note}")
    if found:
        return EXIT_OK
    running = "; ".join(
        f"{version}: {', '.join(pairs)}" for version, pairs in sorted(core_versions(repo).items())
    )
    print(f"no environment runs unifyops_core {options.version} ({running})", file=sys.stderr)
    return EXIT_FAILURE
