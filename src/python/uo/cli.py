"""uo: the UnifyOps operator's command line.

Run it with `./pants run src/python/uo:bin -- <command> ...` (or the built pex, dist/uo.pex).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from unifyops_core.naming import ENVIRONMENTS, STACKS
from uo.images import RegistryError, record
from uo.render import RenderError, render_target, targets
from uo.repo import RepoNotFoundError, find_repo_root

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uo",
        description="Operate UnifyOps: render what Argo CD would deploy, record published images.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    render = commands.add_parser(
        "render",
        help="print the Kubernetes manifests of environments and stacks as YAML",
        description="Render src/charts/unifyops-stack with "
        "infra/environments/<env>/{env,<stack>}.yaml, "
        "as Argo CD would, and print the objects as one YAML stream.",
    )
    render.add_argument(
        "--env",
        action="append",
        choices=ENVIRONMENTS,
        help="environment (repeatable; default: all)",
    )
    render.add_argument(
        "--stack", action="append", choices=sorted(STACKS), help="stack (repeatable; default: all)"
    )
    images = commands.add_parser(
        "images",
        help="record the digests of the published images",
        description="For every image in Pants' docker-info files, ask the registry for the digest "
        "of its tag and its labels, and write them to a JSON manifest.",
    )
    images.add_argument("--dist", type=Path, default=Path("dist"), help="Pants' dist folder")
    images.add_argument(
        "--output", type=Path, default=Path("dist/images.json"), help="where to write the manifest"
    )
    return parser


def run_images(dist: Path, output: Path) -> int:
    recorded = record(dist, output)
    for image in recorded:
        print(f"{image.repository}:{image.tag} -> {image.digest}")
    print(f"recorded {len(recorded)} images in {output}")
    return EXIT_OK


def run_render(env: list[str] | None, stack: list[str] | None) -> int:
    repo = find_repo_root()
    selected = targets(repo, env, stack)
    if not selected:
        print("uo render: no infra file matches that selection", file=sys.stderr)
        return EXIT_FAILURE
    for target in selected:
        objects = render_target(repo, target)
        print(
            f"# --- {target.environment}/{target.stack}: "
            f"{len(objects)} objects in {target.namespace}"
        )
        print(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True), end="")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        if options.command == "render":
            return run_render(options.env, options.stack)
        if options.command == "images":
            return run_images(options.dist, options.output)
    except (RenderError, RepoNotFoundError, RegistryError) as exc:
        print(f"uo {options.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_USAGE


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["build_parser", "entrypoint", "main"]
