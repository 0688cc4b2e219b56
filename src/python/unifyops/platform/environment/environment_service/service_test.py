"""environment-service against a real PostgreSQL and the repository's infra/ files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from unifyops.platform.environment.environment_service.conftest import EnvironmentService
from unifyops_core.naming import STACKS

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def recorded(infra: Path, file: str) -> Any:
    """What the repository's infra/ records (the release loop changes it; tests read it)."""
    return yaml.safe_load((infra / file).read_text())


async def test_lists_every_environment_with_its_stacks_and_versions(
    environment_service: EnvironmentService,
) -> None:
    response = await environment_service.http.get(
        "/internal/environments", headers=environment_service.headers
    )
    assert response.status_code == 200
    by_name = {env["name"]: env for env in response.json()}
    assert set(by_name) == {"dev", "staging", "prod"}
    dev = by_name["dev"]
    assert dev["namespace"] == "uo-dev"
    assert set(dev["stacks"]) == set(STACKS)
    core = recorded(environment_service.infra, "dev/auth.yaml")["coreVersion"]
    assert dev["stacks"]["auth"]["core_version"] == core
    assert dev["stacks"]["auth"]["tiers"]["api"]["tag"]


async def test_changes_in_infra_are_picked_up(environment_service: EnvironmentService) -> None:
    stack_file = environment_service.infra / "staging/user.yaml"
    text, count = re.subn(r'coreVersion: "[^"]*"', 'coreVersion: "9.9.9"', stack_file.read_text())
    assert count == 1
    stack_file.write_text(text)
    response = await environment_service.http.get(
        "/internal/environments/staging", headers=environment_service.headers
    )
    assert response.json()["stacks"]["user"]["core_version"] == "9.9.9"


async def test_promotion_diff_names_what_would_change(
    environment_service: EnvironmentService,
) -> None:
    stack_file = environment_service.infra / "dev/auth.yaml"
    original = stack_file.read_text()
    staging_api = recorded(environment_service.infra, "staging/auth.yaml")["tiers"]["api"]
    old = staging_api["image"].get("digest") or staging_api["image"]["tag"]  # what pins it
    edited, count = re.subn(r"(api:\n    image: )\{[^}]*\}", r'\1{tag: "fedcba9"}', original)
    assert count == 1
    stack_file.write_text(edited)
    response = await environment_service.http.get(
        "/internal/promotions/diff?source=dev&target=staging", headers=environment_service.headers
    )
    changed = [
        (c["stack"], c["tier"], c["source"], c["target"])
        for c in response.json()["changes"]
        if c["changes"]
    ]
    assert changed == [("auth", "api", "fedcba9", old)]


async def test_unknown_environment_is_a_422_and_missing_infra_a_503(
    environment_service: EnvironmentService,
) -> None:
    bad = await environment_service.http.get(
        "/internal/environments/qa", headers=environment_service.headers
    )
    assert bad.status_code == 422
    for child in sorted(environment_service.infra.rglob("*"), reverse=True):
        child.unlink() if child.is_file() else child.rmdir()
    environment_service.infra.rmdir()
    gone = await environment_service.http.get(
        "/internal/environments", headers=environment_service.headers
    )
    assert (gone.status_code, gone.json()["error_type"]) == (503, "dependency_unavailable")


async def test_deployments_are_recorded_and_queryable(
    environment_service: EnvironmentService,
) -> None:
    headers = environment_service.headers
    for tag, env in (("aaaaaaa", "dev"), ("bbbbbbb", "dev"), ("ccccccc", "staging")):
        event = {
            "environment": env,
            "stack": "user",
            "tier": "api",
            "tag": tag,
            "git_commit": COMMIT,
            "actor": "ci",
            "core_version": "0.1.0",
        }
        created = await environment_service.http.post(
            "/internal/deployments", json=event, headers=headers
        )
        assert created.status_code == 201, created.text
    history = await environment_service.http.get(
        "/internal/deployments?environment=dev&stack=user", headers=headers
    )
    assert [e["tag"] for e in history.json()] == ["bbbbbbb", "aaaaaaa"]


@pytest.mark.parametrize("digest", [None, "sha256:" + "ab" * 32])
async def test_recording_the_same_deployment_again_adds_nothing(
    environment_service: EnvironmentService, digest: str | None
) -> None:
    """A retried record (same environment, stack, tier, tag, digest, commit) answers 200 with
    the stored event; a different image or commit is a new event (201)."""
    headers = environment_service.headers
    event = {
        "environment": "prod",
        "stack": "auth",
        "tier": "database",
        "tag": "ddddddd",
        "digest": digest,
        "git_commit": COMMIT,
        "actor": "ci",
    }
    first = await environment_service.http.post(
        "/internal/deployments", json=event, headers=headers
    )
    assert first.status_code == 201, first.text
    again = await environment_service.http.post(
        "/internal/deployments", json={**event, "actor": "someone-else"}, headers=headers
    )
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    other = await environment_service.http.post(
        "/internal/deployments", json={**event, "tag": "eeeeeee"}, headers=headers
    )
    assert other.status_code == 201, other.text
    history = await environment_service.http.get(
        "/internal/deployments?environment=prod&stack=auth", headers=headers
    )
    assert [e["tag"] for e in history.json()] == ["eeeeeee", "ddddddd"]


@pytest.mark.parametrize(
    "change",
    [
        {"tag": "latest!"},
        {"digest": "md5:1"},
        {"environment": "qa"},
        {"git_commit": "HEAD"},
        {"extra": 1},
    ],
)
async def test_bad_deployment_events_are_rejected(
    environment_service: EnvironmentService, change: dict[str, object]
) -> None:
    event = {
        "environment": "dev",
        "stack": "user",
        "tier": "api",
        "tag": "abc1234",
        "git_commit": COMMIT,
        "actor": "ci",
        **change,
    }
    response = await environment_service.http.post(
        "/internal/deployments", json=event, headers=environment_service.headers
    )
    assert response.status_code == 422


async def test_requires_its_gateways_service_token(environment_service: EnvironmentService) -> None:
    assert (await environment_service.http.get("/internal/environments")).status_code == 401
