"""The dashboard's running side against a real Prometheus (Debian's package, as `uo up` runs it)
scraping real tiers: apps built by unifyops_core serving their metrics over HTTP, labelled as
the chart's PodMonitor labels them, one in sync with infra/, one drifted, one not ready, one of
an environment infra/ does not know."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from unifyops.platform.environment.environment_service.conftest import serving
from unifyops.platform.environment.environment_service.live import runs
from unifyops_core.app import create_service_app
from unifyops_core.desired_state import TierImage
from unifyops_core.health import HealthRegistry
from unifyops_core.naming import IMAGE_TIERS, STACKS
from unifyops_core.settings import ServiceSettings

SCRAPE_INTERVAL = "1s"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Tier:
    namespace: str
    environment: str
    stack: str
    tier: str
    image: str
    ready: bool = True
    metrics_port: int = 0
    public: httpx.AsyncClient | None = None

    def app(self) -> FastAPI:
        settings = ServiceSettings(
            service_name=f"{self.stack}-{self.tier}",
            environment=self.environment,
            metrics_port=self.metrics_port,
            image=self.image,
            log_level="WARNING",  # thousands of access lines would drown a failure's report
        )
        health = HealthRegistry()
        health.add("dependency", self._check)
        app = create_service_app(settings, version="1", health=health)

        @app.get("/work")
        async def work() -> dict[str, str]:
            return {"done": "yes"}

        @app.get("/fail")
        async def fail() -> None:
            raise RuntimeError("planned failure")

        return app

    async def _check(self) -> None:
        if not self.ready:
            raise ConnectionError("its database is gone")


def desired_image(infra: Path, environment: str, stack: str, tier: str) -> str:
    """The reference the chart renders for what infra/ wants (registry prefix included)."""
    image = yaml.safe_load((infra / environment / f"{stack}.yaml").read_text())["tiers"][tier]
    return f"registry.example.test/unifyops/{stack}-{tier}@{image['image']['digest']}"


@contextmanager
def prometheus(tmp_path: Path, tiers: list[Tier]) -> Iterator[str]:
    """The real Prometheus scraping ``tiers`` every second; its base URL."""
    tmp_path.mkdir()
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert Path(binary).exists(), "prometheus is missing: install Debian's prometheus package"
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": f"{t.namespace}/{t.stack}/{t.tier}",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{t.metrics_port}"],
                        "labels": {"namespace": t.namespace, "stack": t.stack, "tier": t.tier},
                    }
                ],
            }
            for t in tiers
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - Debian's prometheus, our own arguments
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            time.sleep(0.2)
        else:
            pytest.fail("Prometheus was not ready within 30 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def reported(tmp_path: Path) -> AsyncIterator[tuple[list[Tier], Path]]:
    """The tiers, running and serving their metrics."""
    infra = Path.cwd() / "infra/environments"
    tiers = [
        Tier("uo-dev", "dev", "user", "api", desired_image(infra, "dev", "user", "api")),
        Tier(
            "uo-dev", "dev", "user", "service", "registry.example.test/unifyops/user-service:hand"
        ),
        Tier("uo-dev", "dev", "auth", "api", desired_image(infra, "dev", "auth", "api"), False),
        Tier("uo-test", "test", "user", "api", "unifyops/user-api:0123456"),
    ]
    async with AsyncExitStack() as stack:
        for tier in tiers:
            tier.metrics_port = free_port()
            manager = await stack.enter_async_context(LifespanManager(tier.app()))
            tier.public = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
                )
            )
        yield tiers, tmp_path


async def steady_traffic(tiers: list[Tier], failing: Tier) -> None:
    """Until cancelled: each tier probed (as the kubelet does) and served 10 requests every
    0.2 s; ``failing`` also fails one of every 11."""
    while True:
        for tier in tiers:
            assert tier.public is not None
            await tier.public.get("/health/ready")
            for _ in range(10):
                assert (await tier.public.get("/work")).status_code == 200
            if tier is failing:
                assert (await tier.public.get("/fail")).status_code == 500
        await asyncio.sleep(0.2)


def every_tier_reported(answer: dict[str, Any]) -> bool:
    """Every reporting tier has a rate, the failing one its errors."""
    try:
        reporting = [
            tier_of(answer, env, stack, tier)
            for env, stack, tier in [
                ("dev", "user", "api"),
                ("dev", "user", "service"),
                ("dev", "auth", "api"),
                ("test", "user", "api"),
            ]
        ]
    except (KeyError, ValueError):
        return False
    return all(t["requests_per_second"] > 0 for t in reporting) and bool(
        reporting[0]["error_ratio"]
    )


async def live_until(service: Any, done: Any, within: float = 30.0) -> dict[str, Any]:
    """GET /internal/live until ``done(answer)`` holds (Prometheus needs two scrapes for a
    rate); the last answer."""
    deadline = time.monotonic() + within
    while True:
        response = await service.http.get("/internal/live", headers=service.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"not seen within {within} s: {answer}"
        await asyncio.sleep(0.5)


def tier_of(answer: dict[str, Any], environment: str, stack: str, tier: str) -> dict[str, Any]:
    (env,) = [e for e in answer["environments"] if e["name"] == environment]
    found: dict[str, Any] = env["stacks"][stack]["tiers"][tier]
    return found


async def test_each_tier_is_in_sync_drifted_or_degraded_with_its_traffic(
    reported: tuple[list[Tier], Path],
) -> None:
    tiers, tmp_path = reported
    user_api, user_service, _, _ = tiers
    with prometheus(tmp_path / "prometheus", tiers) as url:
        async with serving(tmp_path / "service", prometheus_url=url) as service:
            # Traffic while Prometheus watches: a rate needs two scrapes that differ.
            load = asyncio.create_task(steady_traffic(tiers, user_api))
            try:
                answer = await live_until(service, every_tier_reported)
            finally:
                load.cancel()
    assert answer["prometheus"] == "ok"
    environments = {e["name"]: e for e in answer["environments"]}
    assert set(environments) == {"dev", "test"}
    dev, test = environments["dev"], environments["test"]
    assert (dev["namespace"], dev["known"]) == ("uo-dev", True)
    assert (test["namespace"], test["known"]) == ("uo-test", False)

    api = tier_of(answer, "dev", "user", "api")
    assert api["status"] == "in_sync", api
    assert (api["replicas"], api["ready"]) == (1, 1)
    assert api["images"] == [user_api.image]
    assert api["requests_per_second"] > 0
    assert 0 < api["error_ratio"] < 0.2  # 1 of every 11 fails; probes are not counted
    assert api["p99_seconds"] is not None
    assert api["p99_seconds"] > 0

    drifted = tier_of(answer, "dev", "user", "service")
    assert drifted["status"] == "drifted", drifted
    assert drifted["images"] == [user_service.image]
    assert str(drifted["desired"]).startswith("sha256:")

    not_ready = tier_of(answer, "dev", "auth", "api")
    assert not_ready["status"] == "degraded", not_ready
    assert (not_ready["replicas"], not_ready["ready"]) == (1, 0)

    # Tiers infra/ wants in dev that report nothing are degraded, with no replica.
    missing = tier_of(answer, "dev", "environment", "service")
    assert (missing["status"], missing["replicas"]) == ("degraded", 0)
    assert set(dev["stacks"]) == set(STACKS)
    assert all(set(s["tiers"]) == set(IMAGE_TIERS) for s in dev["stacks"].values())

    unknown = tier_of(answer, "test", "user", "api")
    assert (unknown["status"], unknown["desired"]) == ("running", None)
    assert unknown["core_versions"]
    assert unknown["error_ratio"] == 0.0


async def test_prometheus_not_answering_is_a_state_not_an_error(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with serving(tmp_path, prometheus_url=closed) as service:
        answer = (await service.http.get("/internal/live", headers=service.headers)).json()
    assert answer["prometheus"] == "unavailable"
    assert closed in answer["detail"]
    assert answer["environments"] == []


async def test_without_a_prometheus_url_the_live_side_is_not_configured(tmp_path: Path) -> None:
    async with serving(tmp_path) as service:
        response = await service.http.get("/internal/live", headers=service.headers)
    assert response.status_code == 200
    assert response.json()["prometheus"] == "not_configured"


def test_an_image_runs_what_infra_wants_by_digest_else_by_tag() -> None:
    digest = "sha256:" + "c" * 64
    assert runs(f"registry.test/unifyops/user-api@{digest}", TierImage(tag="abc", digest=digest))
    assert not runs("registry.test/unifyops/user-api:abc", TierImage(tag="abc", digest=digest))
    assert runs("unifyops/user-api:abc", TierImage(tag="abc", digest=None))
    assert not runs("unifyops/user-api:abcd", TierImage(tag="abc", digest=None))
    assert not runs("unifyops/user-api:abc", TierImage(tag=None, digest=None))
