"""The desired state where no infra/ checkout is mounted (a cluster): what the release loop
recorded, newest per environment, stack and tier — on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unifyops.platform.environment.environment_service.conftest import (
    EnvironmentService,
    serving,
)

OLD, NEW, REVERT = "1111111", "2222222", "3333333"


def digest(fill: str) -> str:
    return "sha256:" + fill * 64


async def record(service: EnvironmentService, **event: Any) -> None:
    body = {"actor": "release-bot", "core_version": "0.1.8", **event}
    answer = await service.http.post("/internal/deployments", json=body, headers=service.headers)
    assert answer.status_code == 201, answer.text


async def test_the_newest_record_of_each_tier_is_what_the_environment_wants(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, desired_state="records") as service:
        # Nothing recorded yet: no environment, and asking for one is a 404 (not infra's 503).
        assert (
            await service.http.get("/internal/environments", headers=service.headers)
        ).json() == []
        missing = await service.http.get("/internal/environments/dev", headers=service.headers)
        assert missing.status_code == 404
        for tier in ("api", "service"):
            await record(
                service,
                environment="dev",
                stack="user",
                tier=tier,
                tag="v1",
                digest=digest("a"),
                git_commit=OLD,
            )
        # A later bump of the api only: the service stays at what was recorded for it before.
        await record(
            service,
            environment="dev",
            stack="user",
            tier="api",
            tag="v2",
            digest=digest("b"),
            git_commit=NEW,
            core_version="0.1.9",
        )
        await record(
            service,
            environment="staging",
            stack="user",
            tier="api",
            tag="v1",
            digest=digest("a"),
            git_commit=OLD,
        )
        listed = await service.http.get("/internal/environments", headers=service.headers)
        dev = await service.http.get("/internal/environments/dev", headers=service.headers)
        diff = await service.http.get(
            "/internal/promotions/diff",
            params={"source": "dev", "target": "staging"},
            headers=service.headers,
        )
        # A rollback is a new infra commit (a git revert) recorded with the old images.
        await record(
            service,
            environment="dev",
            stack="user",
            tier="api",
            tag="v1",
            digest=digest("a"),
            git_commit=REVERT,
        )
        rolled_back = await service.http.get("/internal/environments/dev", headers=service.headers)
    assert sorted(e["name"] for e in listed.json()) == ["dev", "staging"]
    user = dev.json()["stacks"]["user"]
    assert dev.json()["namespace"] == "uo-dev"
    assert user["tiers"] == {
        "api": {"tag": "v2", "digest": digest("b")},
        "service": {"tag": "v1", "digest": digest("a")},
    }
    assert user["core_version"] == "0.1.9"  # the stack's newest record
    assert diff.status_code == 200, diff.text
    changes = {(c["stack"], c["tier"]): c for c in diff.json()["changes"] if c["changes"]}
    assert set(changes) == {("user", "api"), ("user", "service")}
    assert changes["user", "api"]["source"] == digest("b")
    assert rolled_back.json()["stacks"]["user"]["tiers"]["api"]["digest"] == digest("a")
