"""`uo promote`: make one environment run exactly another's images (a diff first)."""

from __future__ import annotations

import argparse
from typing import Any

from unifyops_core.naming import ENVIRONMENTS, STACKS
from uo.commands import record_option
from uo.errors import EXIT_OK, UsageError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "promote",
        help="copy exact images from one environment to another (diff first)",
        description="Show what running SOURCE's images (tiers, core version, database image) and "
        "chart version (infra/environments/<env>/chart.yaml; all stacks only) in TARGET would "
        "change, each as what TARGET runs now -> what it would run; with --yes, write it into "
        "infra/ as one commit (roll back with git revert), and move TARGET-latest in TARGET's "
        "registry (env.yaml, or $UO_REGISTRY) to those images; with --record, then record each "
        "promoted stack tier in environment-api's deployment history.",
    )
    parser.add_argument("source", choices=ENVIRONMENTS, help="environment to copy from")
    parser.add_argument("target", choices=ENVIRONMENTS, help="environment to copy to")
    parser.add_argument(
        "--stack", action="append", choices=sorted(STACKS), help="only these stacks (repeatable)"
    )
    parser.add_argument(
        "--yes", action="store_true", help="write and commit (otherwise only show the diff)"
    )
    parser.add_argument(
        "--no-latest",
        action="store_true",
        help="do not move the <target>-latest tags in the registry",
    )
    record_option.add_arguments(parser)
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.bump import bump
    from uo.repo import find_repo_root
    from uo.state import chart_promotion, chart_promotion_line, promotion, promotion_lines

    source, target = options.source, options.target
    if source == target:
        raise UsageError("source and target are the same environment")
    recorder = record_option.prepare(options) if options.yes else None
    repo = find_repo_root()
    releases = promotion(repo, source, target, options.stack)
    # The chart is environment-wide: it moves with a promotion of every stack, not of a few.
    chart = None if options.stack else chart_promotion(repo, source, target)
    if options.stack and chart_promotion(repo, source, target):
        print(f"{target}: chart not promoted (environment-wide; promote without --stack)")
    if not releases and chart is None:
        print(f"{target} already runs what {source} runs; nothing to promote")
        record_option.record(recorder, repo, target, None)  # finishes a record that failed
        return EXIT_OK
    for line in promotion_lines(repo, target, releases):
        print(line)
    if chart is not None:
        print(chart_promotion_line(repo, target, chart))
    if not options.yes:
        print("(dry run: add --yes to write and commit this)")
        return EXIT_OK
    commit = bump(repo, target, releases, chart=chart)
    print(f"committed {commit[:12] if commit else 'nothing'}: promoted {source} -> {target}")
    if not options.no_latest:
        from uo.latest import Pin, move_latest, repository_of
        from uo.registry import Registry, environment_registry

        pins = [
            Pin(repository_of(r.stack, r.tier), r.digest) for r in releases if r.digest is not None
        ]
        with Registry(environment_registry(repo, target)) as registry:
            for line in move_latest(registry, target, pins):
                print(f"tagged {line}")
    record_option.record(recorder, repo, target, commit)
    return EXIT_OK
