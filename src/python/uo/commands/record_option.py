"""``--record URL`` of `uo bump` and `uo promote`: after the infra commit, record what it deployed
in environment-api's deployment history (uo.recording). Not a command of its own."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uo.recording import Recorder

URL_VARIABLE, AUTH_URL_VARIABLE = "UO_RECORD_URL", "UO_AUTH_URL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--record",
        metavar="URL",
        default=os.environ.get(URL_VARIABLE) or None,
        help="environment-api base URL: after the commit, record each deployed stack tier in "
        f"its history (default: ${URL_VARIABLE}). Credential: $UO_DEPLOY_TOKEN, or "
        "$UO_DEPLOYER_EMAIL and $UO_DEPLOYER_PASSWORD of a deployer account. If recording "
        "fails the commit stays and the exit code is 3; re-running records what is missing.",
    )
    parser.add_argument(
        "--auth-url",
        metavar="URL",
        default=os.environ.get(AUTH_URL_VARIABLE) or None,
        help=f"auth-api base URL for the deployer's sign-in (default: ${AUTH_URL_VARIABLE}, "
        "else the --record URL)",
    )


def prepare(options: argparse.Namespace) -> Recorder | None:
    """Check the URL and the credential before anything is committed (None: no --record)."""
    from uo.recording import recorder

    return recorder(options.record, options.auth_url)


def record(rec: Recorder | None, repo: Path, environment: str, commit: str | None) -> None:
    """Record what ``commit`` deployed (when nothing was committed: the environment's last
    release commit, so a re-run finishes an earlier record that failed)."""
    if rec is None:
        return
    from uo.recording import deployments_of, last_release_commit
    from uo.recording import record as send

    commit = commit or last_release_commit(repo, environment)
    if commit is None:
        print(f"nothing to record: no commit ever changed infra/environments/{environment}")
        return
    deployments = deployments_of(repo, environment, commit)
    if not deployments:
        print(f"nothing to record: {commit[:12]} changed no image of {environment}")
        return
    send(rec, deployments)
