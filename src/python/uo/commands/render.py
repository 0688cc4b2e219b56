"""`uo render`: the Kubernetes objects Argo CD would apply for environments and stacks."""

from __future__ import annotations

import argparse
from typing import Any

from unifyops_core.naming import ENVIRONMENTS, STACKS
from uo.errors import EXIT_OK, InfraError


def add_chart_option(parser: Any, tree: str = "the working tree's chart") -> None:
    """--chart, shared with `uo diff` (whose ``tree`` is each side's own chart)."""
    parser.add_argument(
        "--chart",
        choices=("pinned", "tree"),
        default="pinned",
        help="pinned (default): the chart version each environment pins, as Argo CD applies it; "
        f"tree: {tree}, to preview a chart change before it is pinned",
    )


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "render",
        help="print the Kubernetes manifests of environments and stacks as YAML",
        description="Render each environment's chart (the version its "
        "infra/environments/<env>/chart.yaml pins, found in git history by its digest) with "
        "infra/environments/<env>/{env,<stack>}.yaml, as Argo CD would, and print the objects "
        "as one YAML stream.",
    )
    add_chart_option(parser)
    parser.add_argument(
        "--env",
        action="append",
        choices=ENVIRONMENTS,
        help="environment (repeatable; default: all)",
    )
    parser.add_argument(
        "--stack", action="append", choices=sorted(STACKS), help="stack (repeatable; default: all)"
    )
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    import yaml

    from uo.pinned_chart import PinnedCharts, require_stack
    from uo.render import render_target, targets
    from uo.repo import find_repo_root

    repo = find_repo_root()
    selected = targets(repo, options.env, options.stack)
    if not selected:
        raise InfraError("no infra file matches that selection (see infra/environments)")
    with PinnedCharts(repo) as charts:
        for target in selected:
            chart = charts.chart_for(repo, target.environment, options.chart)
            require_stack(chart, target.environment, target.stack)
            objects = render_target(repo, target, chart_dir=chart.path)
            print(
                f"# --- {target.environment}/{target.stack}: "
                f"{len(objects)} objects in {target.namespace} ({chart.describe()})"
            )
            print(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True), end="")
    return EXIT_OK
