"""`uo prune`: remove the images this project built that nothing needs (uo.local.prune)."""

from __future__ import annotations

import argparse
from typing import Any

from uo.errors import EXIT_OK, UoError, UsageError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "prune",
        help="remove the images this project built that nothing uses or records",
        description="Remove images of this project (unifyops/*, the tests' uo-e2e/* and uo-test/*) "
        "from the engine when no container uses them, running or stopped, they are not among "
        "the --keep newest of their repository, and no environment in infra/ records their tag. "
        "Base images (unifyops/base-*) are never removed. Every build and test run leaves images "
        "behind; an engine left alone fills its disk.",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=2,
        metavar="N",
        help="keep the N newest images of each repository (default 2; 0 keeps none)",
    )
    parser.add_argument(
        "--only", metavar="NAME", help="only repositories whose image name starts with NAME"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.local import engine, prune
    from uo.repo import find_repo_root
    from uo.state import status_rows

    if options.keep < 0:
        raise UsageError("--keep must be 0 or more")
    recorded = {row[3] for row in status_rows(find_repo_root()) if row[3] not in ("", "-")}
    try:
        client = engine.connect()
    except engine.EngineError as exc:
        raise UoError(str(exc)) from exc
    verdict = prune.prune(
        client,
        recorded_tags=recorded,
        keep=options.keep,
        dry_run=options.dry_run,
        only=options.only,
        report=print,
    )
    size = sum(c.size for c in verdict.removed) / 1e6
    verb = "would remove" if options.dry_run else "removed"
    print(
        f"{verb} {len(verdict.removed)} image(s), up to {size:.0f} MB; kept {verdict.kept} "
        "(in use, newest, or recorded in infra/)"
    )
    return EXIT_OK
