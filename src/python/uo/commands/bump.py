"""`uo bump`: write a release manifest's images into one environment's infra files, one commit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from unifyops_core.naming import ENVIRONMENTS
from uo.commands import record_option
from uo.errors import EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "bump",
        help="write released image tags/digests/core versions into infra/ as one git commit",
        description="Write the images of a release manifest (uo publish, uo images) into "
        "infra/environments/<env>/ and make exactly one commit listing them; no commit when "
        "nothing changed. A stack's tier goes into tiers.<tier>.image of its file (and its core "
        "version into coreVersion); the database image into database.internal.image of every "
        "stack file of the environment that runs an internal database; the edge image is only "
        "run by `uo up`, so it is reported and not written. Roll back with `git revert <commit>`. "
        "Then <env>-latest is moved to each recorded image in the registry it was published to "
        "(a rollback aid; infra/ pins digests). With --record, each stack tier the commit changed "
        "is then recorded in environment-api's deployment history.",
    )
    parser.add_argument("--env", required=True, choices=ENVIRONMENTS, help="environment to update")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path("dist/images.json"),
        help="release manifest (default: dist/images.json)",
    )
    parser.add_argument(
        "--push", action="store_true", help="push the commit (rebasing if the branch moved)"
    )
    parser.add_argument(
        "--no-latest",
        action="store_true",
        help="do not move the <env>-latest tags in the registry",
    )
    record_option.add_arguments(parser)
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.bump import bump, not_recorded, releases_from_manifest
    from uo.repo import find_repo_root

    recorder = record_option.prepare(options)
    repo = find_repo_root()
    manifest = options.manifest if options.manifest.is_absolute() else repo / options.manifest
    releases = releases_from_manifest(manifest)
    for release in not_recorded(releases):
        print(f"{release.label}: run only by `uo up` on one machine; not recorded in infra/")
    commit = bump(repo, options.env, releases, push=options.push)
    count = len(releases) - len(not_recorded(releases))
    if commit is None:
        print(f"infra/environments/{options.env} already runs these images; nothing to commit")
    else:
        print(f"committed {commit[:12]}: {count} image(s) into {options.env}")
    if not options.no_latest:
        _move_latest(manifest, options.env)
    record_option.record(recorder, repo, options.env, commit)
    return EXIT_OK


def _move_latest(manifest: Path, environment: str) -> None:
    """<env>-latest in the registry each recorded image was published to (the manifest says)."""
    import json

    from uo.latest import Pin, move_latest
    from uo.registry import Registry
    from uo.units import NOT_RECORDED, REPOSITORIES

    by_registry: dict[str, list[Pin]] = {}
    for image in json.loads(manifest.read_text())["images"]:
        unit = REPOSITORIES.get(image.get("repository", ""))
        if unit is None or unit in NOT_RECORDED or not image.get("digest"):
            continue  # what infra/ does not record has no <env>-latest
        by_registry.setdefault(image["registry"], []).append(
            Pin(image["repository"], image["digest"])
        )
    for address, pins in sorted(by_registry.items()):
        with Registry(address) as registry:
            for line in move_latest(registry, environment, pins):
                print(f"tagged {line}")
