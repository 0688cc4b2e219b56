"""`uo where core VERSION`: which environments and stacks run a unifyops_core version."""

from __future__ import annotations

import argparse
import json
from typing import Any

from uo.errors import EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "where",
        help="which environments and stacks run a unifyops_core version",
        description="List the (environment, stack) pairs whose images were built with a core "
        "version.",
    )
    parser.add_argument(
        "what", choices=["core"], help="what to look for (core: a unifyops_core version)"
    )
    parser.add_argument("version", help="e.g. 0.1.0")
    parser.add_argument(
        "--json", action="store_true", help='print [{"environment": ..., "stack": ...}, ...]'
    )
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.repo import find_repo_root
    from uo.state import where_core

    found = where_core(find_repo_root(), options.version)
    if options.json:
        print(json.dumps([{"environment": env, "stack": stack} for env, stack in found]))
        return EXIT_OK
    for env, stack in found:
        print(f"{env}/{stack}")
    if not found:
        print(f"no environment runs unifyops_core {options.version}")
    return EXIT_OK
