"""Recording deployments in environment-api's history after `uo bump`/`uo promote` committed.

What one infra commit deployed is read from the commit itself: every (stack, tier) of
``infra/environments/<env>/`` whose image (tag or digest) differs from the commit's parent, the
database image (``database.internal.image``) as tier ``database``. Each is recorded with its tag,
digest, the stack's ``coreVersion`` and ``git_commit`` = that infra commit (what Argo CD applies
and a rollback reverts; the source commit is already the image tag). Recording is therefore a
function of the commit: retrying it (the server keeps one event per environment, stack, tier,
tag, digest and commit) never duplicates history. When a re-run commits nothing, the last commit
that changed the environment is recorded, so "run the same command again" finishes a record that
failed.

The credential (checked before anything is committed, so a missing one changes nothing):
``UO_DEPLOY_TOKEN`` (a bearer token with ``deployments:write``), or ``UO_DEPLOYER_EMAIL`` and
``UO_DEPLOYER_PASSWORD`` of an account with the ``deployer`` role, signed in at auth-api's
``POST /v1/auth/login``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from unifyops_core.naming import STACKS, infra_file
from uo.errors import RecordError, UsageError

TOKEN_VARIABLE = "UO_DEPLOY_TOKEN"
EMAIL_VARIABLE, PASSWORD_VARIABLE = "UO_DEPLOYER_EMAIL", "UO_DEPLOYER_PASSWORD"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True)
class Deployment:
    """One tier's image that one infra commit put into one environment (environment-api's
    ``DeploymentCreate``)."""

    environment: str
    stack: str
    tier: str
    tag: str
    digest: str | None
    core_version: str | None
    git_commit: str

    @property
    def label(self) -> str:
        return f"{self.stack}-{self.tier} {self.tag[:12]}"


@dataclass(frozen=True)
class Recorder:
    """Where and as whom to record (built from the command line before the commit)."""

    url: str
    auth_url: str
    token: str | None
    email: str | None
    password: str | None


def _checked_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} {url!r} is not an http(s) URL (e.g. https://environment.example)")
    return url.rstrip("/")


def recorder(url: str | None, auth_url: str | None) -> Recorder | None:
    """None without a URL; a usage error (before anything is committed) for a malformed URL or
    no credential."""
    if not url:
        return None
    token = os.environ.get(TOKEN_VARIABLE) or None
    email = os.environ.get(EMAIL_VARIABLE) or None
    password = os.environ.get(PASSWORD_VARIABLE) or None
    if token is None and not (email and password):
        raise UsageError(
            f"--record needs a credential: ${TOKEN_VARIABLE}, or ${EMAIL_VARIABLE} and "
            f"${PASSWORD_VARIABLE} of an account with the deployer role (docs/releases.md)"
        )
    checked = _checked_url(url, "--record")
    return Recorder(
        url=checked,
        auth_url=_checked_url(auth_url, "--auth-url") if auth_url else checked,
        token=token,
        email=email,
        password=password,
    )


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def _document(repo: Path, commit: str, path: str) -> dict[str, Any]:
    shown = _git(repo, "show", f"{commit}:{path}")
    if shown.returncode != 0:
        return {}  # the file (or the parent commit) does not exist
    try:
        data = yaml.safe_load(shown.stdout)
    except yaml.YAMLError as exc:
        raise RecordError(f"{path} at {commit[:12]}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _images(document: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """tier -> (tag, digest) of a stack file, the internal database as tier ``database``."""
    images: dict[str, tuple[str | None, str | None]] = {}
    for tier, spec in (document.get("tiers") or {}).items():
        image = (spec or {}).get("image") or {}
        images[str(tier)] = (image.get("tag"), image.get("digest"))
    internal = (document.get("database") or {}).get("internal")
    if internal:
        image = internal.get("image") or {}
        images["database"] = (image.get("tag"), image.get("digest"))
    return images


def deployments_of(repo: Path, environment: str, commit: str) -> list[Deployment]:
    """What ``commit`` deployed to ``environment``: each tier whose image it changed."""
    deployments = []
    for stack in STACKS:
        path = infra_file(environment, stack)
        after = _document(repo, commit, path)
        before = _images(_document(repo, f"{commit}^", path))
        core = after.get("coreVersion")
        for tier, (tag, digest) in sorted(_images(after).items()):
            if tag and before.get(tier) != (tag, digest):
                deployments.append(
                    Deployment(
                        environment=environment,
                        stack=stack,
                        tier=tier,
                        tag=str(tag),
                        digest=digest,
                        core_version=None if tier == "database" or core is None else str(core),
                        git_commit=commit,
                    )
                )
    return deployments


def last_release_commit(repo: Path, environment: str) -> str | None:
    """The last commit that changed the environment's infra files (None: none ever did)."""
    found = _git(repo, "log", "-1", "--format=%H", "--", f"infra/environments/{environment}")
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


def _problem(response: httpx.Response) -> str:
    try:
        message = str(response.json().get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return f"{response.status_code} {message or response.reason_phrase}".strip()


def _token(rec: Recorder, http: httpx.Client) -> str:
    if rec.token is not None:
        return rec.token
    url = f"{rec.auth_url}/v1/auth/login"
    try:
        response = http.post(url, json={"email": rec.email, "password": rec.password})
    except httpx.HTTPError as exc:
        raise RecordError(f"cannot sign in at {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise RecordError(f"sign-in of {rec.email} at {url} was refused: {_problem(response)}")
    try:
        return str(response.json()["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordError(f"{url} answered no access token") from exc


def record(
    rec: Recorder, deployments: list[Deployment], report: Callable[[str], None] = print
) -> int:
    """Record each deployment, reporting one line each ("recorded" or "already recorded");
    returns how many were new. The first refusal stops (a RecordError); the ones before it stay
    recorded, and a retry answers them "already recorded"."""
    new = 0
    if not deployments:
        return new
    url = f"{rec.url}/v1/deployments"
    with httpx.Client(timeout=TIMEOUT) as http:
        headers = {"Authorization": f"Bearer {_token(rec, http)}"}
        for deployment in deployments:
            try:
                response = http.post(url, json=asdict(deployment), headers=headers)
            except httpx.HTTPError as exc:
                raise RecordError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
            if response.status_code in (200, 201):
                state = "recorded" if response.status_code == 201 else "already recorded"
                new += response.status_code == 201
                report(f"{state} {deployment.environment}: {deployment.label}")
                continue
            hint = {
                401: " (the credential is not valid here)",
                403: " (the account needs the deployer role: docs/roles.md)",
                404: " (is --record environment-api's base URL?)",
            }.get(response.status_code, "")
            raise RecordError(f"{url} refused {deployment.label}: {_problem(response)}{hint}")
    return new


__all__ = [
    "EMAIL_VARIABLE",
    "PASSWORD_VARIABLE",
    "TOKEN_VARIABLE",
    "Deployment",
    "Recorder",
    "deployments_of",
    "last_release_commit",
    "record",
    "recorder",
]
