"""`uo diff --since REF`: the rendered objects a change adds, removes or changes, per
environment and stack (uo.manifest_diff)."""

from __future__ import annotations

import argparse
from typing import Any

from unifyops_core.naming import ENVIRONMENTS, STACKS
from uo.commands.render import add_chart_option
from uo.errors import EXIT_FAILURE, EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "diff",
        help="show how a change alters the rendered manifests (what Argo CD would apply)",
        description="Render every environment and stack at a base commit and in the working "
        "tree, each with its own infra/ and the chart version each environment pins there (as "
        "Argo CD would apply it), and print a unified diff per changed "
        "Kubernetes object (Secret values hidden: only which keys changed). Exits 1 when a pair "
        "does not render on either side; with --exit-code, also when anything changed.",
    )
    parser.add_argument(
        "--since", default="origin/main", help="git ref to compare with (default: origin/main)"
    )
    parser.add_argument(
        "--env",
        action="append",
        choices=ENVIRONMENTS,
        help="environment (repeatable; default: all)",
    )
    parser.add_argument(
        "--stack", action="append", choices=sorted(STACKS), help="stack (repeatable; default: all)"
    )
    add_chart_option(parser, tree="each side's own chart (the base's at --since)")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print Markdown for a job summary (a section per pair, diffs in ```diff blocks)",
    )
    parser.add_argument(
        "--exit-code", action="store_true", help="exit 1 when anything changed (like git diff)"
    )
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    import sys

    from uo.manifest_diff import as_markdown, as_text, manifest_diff
    from uo.repo import find_repo_root

    repo = find_repo_root()
    print(
        f"uo: rendering every environment and stack at {options.since} and here ...",
        file=sys.stderr,
    )
    diffs = manifest_diff(repo, options.since, options.env, options.stack, options.chart)
    render = as_markdown if options.markdown else as_text
    print(render(diffs, options.since), end="")
    if any(diff.errors for diff in diffs) or (options.exit_code and diffs):
        return EXIT_FAILURE
    return EXIT_OK
