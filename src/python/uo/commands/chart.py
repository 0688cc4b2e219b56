"""`uo chart publish` and `uo chart bump`: release the chart (src/charts/unifyops-stack) like an
image. `publish` packages it with the Helm engine (reproducibly) and pushes it to a registry as an
OCI artifact tagged with its version, which never moves; `bump` pins that version and digest in
infra/environments/<env>/chart.yaml as one commit, which the ApplicationSet reads."""

from __future__ import annotations

import argparse
import json
from typing import Any

from unifyops_core.naming import ENVIRONMENTS
from uo.errors import EXIT_OK, RegistryError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "chart",
        help="publish the chart to a registry and pin its version per environment",
        description="Release the deployment chart: `publish` pushes it to a registry as an OCI "
        "artifact (<registry>/charts/<name>:<version>); `bump` records the published version "
        "and digest in infra/environments/<env>/chart.yaml, where Argo CD reads it.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = actions.add_parser(
        "publish",
        help="package the chart and push it under its version (never moves a version)",
        description="Package the chart with the Helm engine (the same sources give the same "
        "digest) and push it to the registry as <registry>/charts/<name>:<version>, the version "
        "taken from Chart.yaml. A version the registry holds with other contents is refused "
        "(exit 1): raise `version` in Chart.yaml instead.",
    )
    target = publish.add_mutually_exclusive_group()
    target.add_argument(
        "--env",
        choices=ENVIRONMENTS,
        help="push to this environment's registry (infra/environments/<env>/env.yaml, or "
        "$UO_REGISTRY)",
    )
    target.add_argument(
        "--registry",
        help="push to this registry, host[:port][/namespace] (default: $UO_REGISTRY, else the "
        "local one, 127.0.0.1:5000)",
    )
    publish.add_argument("--json", action="store_true", help="print the result as JSON")
    publish.set_defaults(run=run_publish)
    bump = actions.add_parser(
        "bump",
        help="pin the published chart version in an environment (one commit)",
        description="Record the chart version of Chart.yaml, with the digest the environment's "
        "registry serves for it, in infra/environments/<env>/chart.yaml as one commit (roll back "
        "with git revert). The version must be published there first (uo chart publish --env).",
    )
    bump.add_argument("--env", choices=ENVIRONMENTS, required=True, help="environment to pin")
    bump.add_argument("--push", action="store_true", help="push the commit (rebase on conflict)")
    bump.add_argument("--json", action="store_true", help="print the result as JSON")
    bump.set_defaults(run=run_bump)


def run_publish(options: argparse.Namespace) -> int:
    from uo.charts import publish, repo_chart
    from uo.registry import Registry, environment_registry, local_registry
    from uo.repo import find_repo_root

    repo = find_repo_root()
    if options.env:
        address = environment_registry(repo, options.env)
    else:
        address = options.registry or local_registry()
    chart = repo_chart(repo)
    with Registry(address) as registry:
        done = publish(registry, chart)
    if options.json:
        print(
            json.dumps(
                {
                    "name": chart.name,
                    "version": chart.version,
                    "reference": done.reference,
                    "digest": done.digest,
                    "pushed": done.pushed,
                },
                indent=2,
            )
        )
    else:
        state = "pushed" if done.pushed else "already in the registry (same chart); not pushed"
        print(f"{done.reference} -> {done.digest} ({state})")
    return EXIT_OK


def run_bump(options: argparse.Namespace) -> int:
    from uo.bump import bump
    from uo.charts import ChartPin, chart_repository, is_chart, repo_chart
    from uo.registry import Registry, environment_registry
    from uo.repo import find_repo_root

    repo = find_repo_root()
    chart = repo_chart(repo)
    address = environment_registry(repo, options.env)
    with Registry(address) as registry:
        held = registry.manifest(chart.repository, chart.version)
    reference = f"{address}/{chart.repository}:{chart.version}"
    if held is None:
        raise RegistryError(
            f"{reference} is not published; run uo chart publish --env {options.env} first"
        )
    if not is_chart(held, chart):
        raise RegistryError(
            f"{reference} holds other contents than this checkout's chart "
            f"({held.digest}); raise `version` in Chart.yaml and publish it"
        )
    pin = ChartPin(chart_repository(repo, options.env), chart.name, chart.version, held.digest)
    commit = bump(repo, options.env, [], chart=pin, push=options.push)
    if options.json:
        print(json.dumps({"environment": options.env, "commit": commit, "chart": pin.as_dict()}))
    elif commit:
        print(f"committed {commit[:12]}: {options.env} runs chart {pin.name} {pin.version}")
    else:
        print(f"{options.env} already runs chart {pin.name} {pin.version}; nothing to commit")
    return EXIT_OK
