"""`uo render`: the Kubernetes objects Argo CD would apply for environments and stacks."""

from __future__ import annotations

import argparse
from typing import Any

from unifyops_core.naming import ENVIRONMENTS, STACKS
from uo.errors import EXIT_OK, InfraError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "render",
        help="print the Kubernetes manifests of environments and stacks as YAML",
        description="Render src/charts/unifyops-stack with "
        "infra/environments/<env>/{env,<stack>}.yaml, as Argo CD would, and print the objects "
        "as one YAML stream.",
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
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    import yaml

    from uo.render import render_target, targets
    from uo.repo import find_repo_root

    repo = find_repo_root()
    selected = targets(repo, options.env, options.stack)
    if not selected:
        raise InfraError("no infra file matches that selection (see infra/environments)")
    for target in selected:
        objects = render_target(repo, target)
        print(
            f"# --- {target.environment}/{target.stack}: "
            f"{len(objects)} objects in {target.namespace}"
        )
        print(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True), end="")
    return EXIT_OK
