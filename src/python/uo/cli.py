"""uo: the UnifyOps operator's command line.

Run it as `./uo <command> ...` (a launcher that builds this pex and runs it outside Pants).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker.errors
import yaml

from unifyops_core.desired_state import DesiredStateError
from unifyops_core.naming import ENVIRONMENTS, STACKS, Component
from uo.affected import POSTGRES_IMAGE, AffectedImage, GitRefError, affected_images
from uo.bump import BumpError, bump, releases_from_manifest
from uo.core_pins import core_version, pin_problems, unbumped_core_change
from uo.images import RegistryError, published_tags, record, write_manifest
from uo.local import commands as local
from uo.local.engine import EngineError
from uo.local.reconcile import RolloutError
from uo.local.sources import DEFAULT_REGISTRY
from uo.local.topology import CLI_ENVIRONMENTS, ROLLED_TIERS
from uo.pants_runner import Pants, PantsError
from uo.render import RenderError, render_target, targets
from uo.repo import RepoNotFoundError, find_repo_root
from uo.seal_command import add_seal_parser, run_seal
from uo.sealed_secrets import SealError
from uo.state import promotion, status_rows, where_core

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# Failures a user can act on: reported as one line, never as a traceback.
OPERATOR_ERRORS = (
    RenderError,
    RepoNotFoundError,
    RegistryError,
    PantsError,
    GitRefError,
    BumpError,
    DesiredStateError,
    EngineError,
    RolloutError,
    docker.errors.DockerException,
    SealError,
)


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
    for name, text in (
        (
            "affected",
            "list the images a change affects "
            "(Pants graph + lockfile pins, base images, build definitions)",
        ),
        ("matrix", 'print a GitHub Actions matrix ({"include": [...]}) of the affected images'),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument(
            "--since", default="origin/main", help="git ref to compare with (default: origin/main)"
        )
        if name == "affected":
            command.add_argument("--json", action="store_true", help="print JSON instead of text")
    bump_parser = commands.add_parser(
        "bump",
        help="write released image tags/digests/core versions into infra/ as one git commit",
        description="Write the images of a release manifest (uo images) into "
        "infra/environments/<env>/<stack>.yaml and make exactly one commit listing them; no commit "
        "when nothing changed. Roll back with `git revert <that commit>`.",
    )
    bump_parser.add_argument(
        "--env", required=True, choices=ENVIRONMENTS, help="environment to update"
    )
    bump_parser.add_argument(
        "--manifest",
        type=Path,
        default=Path("dist/images.json"),
        help="release manifest (uo images)",
    )
    bump_parser.add_argument(
        "--push", action="store_true", help="push the commit (rebasing if the branch moved)"
    )
    commands.add_parser(
        "status", help="show what every env/stack/tier should run, and what runs here",
        description="Show the desired state in infra/ (every environment, stack and tier with its "
        "image tag, digest and unifyops_core version), then what `uo up` runs on this machine.",
    )  # fmt: skip
    where = commands.add_parser(
        "where", help="which environments and stacks run a unifyops_core version",
        description="List the (environment, stack) pairs whose images were built with a core "
        "version.",
    )  # fmt: skip
    where.add_argument(
        "what", choices=["core"], help="what to look for (core: a unifyops_core version)"
    )
    where.add_argument("version", help="e.g. 0.1.0")
    promote = commands.add_parser(
        "promote", help="copy exact images from one environment to another (diff first)",
        description="Show what running SOURCE's images in TARGET would change; "
        "with --yes, write it "
        "into infra/ as one commit (roll back with git revert).",
    )  # fmt: skip
    promote.add_argument("source", choices=ENVIRONMENTS, help="environment to copy from")
    promote.add_argument("target", choices=ENVIRONMENTS, help="environment to copy to")
    promote.add_argument(
        "--stack", action="append", choices=sorted(STACKS), help="only these stacks (repeatable)"
    )
    promote.add_argument(
        "--yes", action="store_true", help="write and commit (otherwise only show the diff)"
    )
    for name, text in (
        ("build", "build the affected (or named) images with Pants"),
        ("publish", "build and push the affected (or named) images, then record their digests"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        selection = command.add_mutually_exclusive_group(required=True)
        selection.add_argument("--since", help="the images affected since this git ref")
        selection.add_argument(
            "--image", action="append", help="a docker_image address (repeatable)"
        )
        if name == "publish":
            command.add_argument(
                "--output",
                type=Path,
                default=Path("dist/images.json"),
                help="release manifest to write",
            )
    check_core_parser = commands.add_parser(
        "check-core",
        help="fail when a service does not support the core version, "
        "or core changed without a bump",
        description="Check that every service's CORE_REQUIREMENT admits the unifyops_core "
        "version in _version.py and, with --since, that core's sources did not change without "
        "a version bump.",
    )
    check_core_parser.add_argument("--since", help="git ref to compare core's sources with")
    add_local_commands(commands)
    add_seal_parser(commands)
    return parser


def add_local_commands(commands: Any) -> None:
    up = commands.add_parser(
        "up", help="run an environment on this machine's Docker engine (default: local)",
        description="Bring up every stack (PostgreSQL, migrations, service, api) behind a front "
        "door on 127.0.0.1, in the cluster's order and isolation; again after a change, roll the "
        "changed tiers one by one (the old version serves until the new one is ready). "
        "Environment 'local' builds the working tree; dev, staging and prod run the images their "
        "infra files record.",
    )  # fmt: skip
    up.add_argument(
        "--env",
        default="local",
        choices=CLI_ENVIRONMENTS,
        help="environment (default: local)",
    )
    up.add_argument(
        "--stack",
        action="append",
        choices=sorted(STACKS),
        help="only these stacks (auth is always included)",
    )
    up.add_argument(
        "--registry", default=DEFAULT_REGISTRY,
        help=f"registry to pull recorded images from (default: {DEFAULT_REGISTRY})",
    )  # fmt: skip
    up.add_argument(
        "--ready-timeout", type=float, default=90.0,
        help="seconds a new container gets to become ready (default: 90)",
    )  # fmt: skip
    down = commands.add_parser(
        "down", help="stop and remove an environment started by uo up",
        description="Stop an environment's containers (front door first, databases last) and "
        "remove its networks. Data and generated secrets are kept unless --volumes.",
    )  # fmt: skip
    down.add_argument("--env", default="local", choices=CLI_ENVIRONMENTS, help="environment")
    down.add_argument("--volumes", action="store_true", help="also delete databases and secrets")
    logs = commands.add_parser(
        "logs", help="print the log of a running tier",
        description="Print the log of a tier's newest container (JSON lines).",
    )  # fmt: skip
    logs.add_argument("stack", choices=sorted(STACKS))
    logs.add_argument("tier", choices=[*ROLLED_TIERS, "database", "migrate"])
    logs.add_argument("--env", default="local", choices=CLI_ENVIRONMENTS, help="environment")
    logs.add_argument("--tail", type=int, default=100, help="lines from the end (default: 100)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")


def run_build(
    since: str | None, images: list[str] | None, publish: bool, output: Path | None
) -> int:
    repo = find_repo_root()
    addresses = images or [image.address for image in affected_images(repo, since or "HEAD")]
    if not addresses:
        print("no images to build")
        return EXIT_OK
    goal = "publish" if publish else "package"
    print(f"uo: {goal} {len(addresses)} image(s): {', '.join(addresses)}", file=sys.stderr)
    # Pants builds the images in parallel, as far as the engine and the machine allow.
    if not publish:
        Pants(repo).run("package", *addresses)
        return EXIT_OK
    report = repo / "dist/publish.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    Pants(repo).run("publish", f"--publish-output={report}", *addresses)
    if output is not None:
        manifest = output if output.is_absolute() else repo / output
        recorded = write_manifest(published_tags(report), manifest)
        for image in recorded:
            print(f"{image.repository}:{image.tag} -> {image.digest}")
        print(f"recorded {len(recorded)} images in {manifest}")
    return EXIT_OK


def run_check_core(since: str | None) -> int:
    repo = find_repo_root()
    problems = pin_problems(repo)
    if since:
        problem = unbumped_core_change(repo, since)
        if problem:
            problems.append(problem)
    for problem in problems:
        print(f"uo check-core: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAILURE
    print(f"every service supports unifyops_core {core_version(repo)}")
    return EXIT_OK


def run_status() -> int:
    rows = status_rows(find_repo_root())
    header = ("ENV", "STACK", "TIER", "TAG", "DIGEST", "CORE")
    widths = [max(len(str(row[i])[:19]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(str(cell)[:19].ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    local.print_running()
    return EXIT_OK


def run_where(version: str) -> int:
    found = where_core(find_repo_root(), version)
    for env, stack in found:
        print(f"{env}/{stack}")
    if not found:
        print(f"no environment runs unifyops_core {version}")
    return EXIT_OK


def run_promote(source: str, target: str, stacks: list[str] | None, yes: bool) -> int:
    if source == target:
        print("uo promote: source and target are the same environment", file=sys.stderr)
        return EXIT_USAGE
    repo = find_repo_root()
    releases = promotion(repo, source, target, stacks)
    if not releases:
        print(f"{target} already runs what {source} runs; nothing to promote")
        return EXIT_OK
    for release in releases:
        digest = release.digest or ""
        image = f"{release.stack}-{release.tier} -> {release.tag[:12]} {digest}"
        print(f"{target}: {image} core {release.core_version}")
    if not yes:
        print("(dry run: add --yes to write and commit this)")
        return EXIT_OK
    commit = bump(repo, target, releases)
    print(f"committed {commit[:12] if commit else 'nothing'}: promoted {source} -> {target}")
    return EXIT_OK


def run_bump(environment: str, manifest: Path, push: bool) -> int:
    repo = find_repo_root()
    releases = releases_from_manifest(manifest if manifest.is_absolute() else repo / manifest)
    commit = bump(repo, environment, releases, push=push)
    if commit is None:
        print(f"infra/environments/{environment} already runs these images; nothing to commit")
    else:
        print(f"committed {commit[:12]}: {len(releases)} image(s) into {environment}")
    return EXIT_OK


def image_record(image: AffectedImage) -> dict[str, Any]:
    if image.address == POSTGRES_IMAGE:
        stack, tier, repository, dockerfile = (
            "shared",
            "database",
            "unifyops/postgres",
            "src/docker/postgres/Dockerfile",
        )
    else:
        package = image.address.split(":", 1)[0].rsplit("/", 1)[1]  # e.g. user_service
        stack, tier = package.rsplit("_", 1)
        component = Component(stack, tier)
        repository, dockerfile = (
            component.image_repository,
            "build-support/pants/macros.py (generated)",
        )
    return {
        "address": image.address,
        "stack": stack,
        "tier": tier,
        "repository": repository,
        "dockerfile": dockerfile,
        "reasons": sorted(image.reasons),
    }


def run_affected(since: str, as_json: bool, as_matrix: bool) -> int:
    repo = find_repo_root()
    print(f"uo: computing images affected since {since} ...", file=sys.stderr)
    records = [image_record(image) for image in affected_images(repo, since)]
    if as_matrix:
        include = [
            {key: record[key] for key in ("address", "stack", "tier", "repository", "dockerfile")}
            for record in records
        ]
        print(json.dumps({"include": include}))
    elif as_json:
        print(json.dumps(records, indent=2))
    elif not records:
        print("no images affected")
    else:
        for record in records:
            print(
                f"{record['repository']:<28} {record['address']}  ({'; '.join(record['reasons'])})"
            )
    return EXIT_OK


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
        if options.command in ("build", "publish"):
            return run_build(
                options.since,
                options.image,
                options.command == "publish",
                getattr(options, "output", None),
            )
        if options.command == "check-core":
            return run_check_core(options.since)
        if options.command == "status":
            return run_status()
        if options.command == "where":
            return run_where(options.version)
        if options.command == "promote":
            return run_promote(options.source, options.target, options.stack, options.yes)
        if options.command == "bump":
            return run_bump(options.env, options.manifest, options.push)
        if options.command == "up":
            return local.run_up(
                find_repo_root(),
                options.env,
                options.stack,
                options.registry,
                options.ready_timeout,
            )
        if options.command == "down":
            return local.run_down(options.env, options.volumes)
        if options.command == "logs":
            return local.run_logs(
                options.env, options.stack, options.tier, options.tail, options.follow
            )
        if options.command == "seal":
            return run_seal(options)
        if options.command in ("affected", "matrix"):
            return run_affected(
                options.since, getattr(options, "json", False), options.command == "matrix"
            )
    except OPERATOR_ERRORS as exc:
        print(f"uo {options.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_USAGE


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["build_parser", "entrypoint", "main"]
