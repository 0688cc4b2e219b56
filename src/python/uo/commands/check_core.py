"""`uo check-core`: every service accepts the core being built; core never changes unversioned."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from uo.errors import EXIT_OK, CoreCheckError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "check-core",
        help="fail when a service does not support the core version, "
        "or core changed without a bump",
        description="Check that every service's CORE_REQUIREMENT admits the unifyops_core "
        "version in _version.py and, with --since, that core's sources did not change without "
        "a version bump.",
    )
    parser.add_argument("--since", help="git ref to compare core's sources with")
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.core_pins import core_version, pin_problems, unbumped_core_change
    from uo.repo import find_repo_root

    repo = find_repo_root()
    problems = pin_problems(repo)
    if options.since:
        problem = unbumped_core_change(repo, options.since)
        if problem:
            problems.append(problem)
    for problem in problems[:-1]:
        print(f"uo check-core: {problem}", file=sys.stderr)
    if problems:
        raise CoreCheckError(problems[-1])
    print(f"every service supports unifyops_core {core_version(repo)}")
    return EXIT_OK
