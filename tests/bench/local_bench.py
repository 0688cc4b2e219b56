"""`uo up` benchmarks on the real engine. Prints its figures side by side; asserts nothing.

    ./pants run tests/bench/local_bench.py

1. `./uo up` cold (environment `local` removed with its volumes; images already built) and warm
   (nothing changed);
2. one rolling update of user-service (a new image) under a bounded load loop through the front
   door: wall time and failed requests (target: 0);
3. requests/s, p50 and p99 at 32 concurrent for api -> service -> PostgreSQL against calling the
   service directly with the same work (target: chain >= 60 % of direct, p99 <= 50 ms).
Leaves `local` running on the working tree's images.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx

from unifyops_core.naming import STACKS
from unifyops_core.service_tokens import ServiceTokenProvider
from uo.local import engine, reconcile, sources, vault
from uo.local.topology import host_port

# `pants run` executes a pex outside the tree; the launcher says where the tree is.
ROOT = Path(os.environ.get("UO_REPO_ROOT") or Path.cwd())
ENV = "local"
CONCURRENCY = 32
SECONDS = 8.0


def timed_uo(*args: str) -> float:
    started = time.monotonic()
    # This script runs under `pants run`; the ./pants that ./uo calls must not wait for it.
    env = {**os.environ, "PANTS_CONCURRENT": "True"}
    result = subprocess.run(["./uo", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"./uo {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return time.monotonic() - started


def login() -> tuple[str, str]:
    auth = f"http://127.0.0.1:{host_port(ENV, 'auth', 'api')}"
    email, password = f"bench-{uuid.uuid4().hex[:8]}@example.com", "a long enough passphrase"
    httpx.post(f"{auth}/v1/auth/register", json={"email": email, "password": password})
    tokens = httpx.post(f"{auth}/v1/auth/login", json={"email": email, "password": password})
    return email, str(tokens.json()["access_token"])


async def closed_loop(request: httpx.Request, http: httpx.AsyncClient) -> dict[str, float]:
    """CONCURRENCY workers sending the same request back to back for SECONDS."""
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + SECONDS

    async def worker() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await http.send(request)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "failed": failures,
    }


async def chain_vs_direct() -> dict[str, dict[str, float]]:
    docker_client = engine.connect()
    email, user_token = login()
    api = engine.containers(docker_client, ENV, stack="user", tier="api")[0]
    service = engine.containers(docker_client, ENV, stack="user", tier="service")[0]
    edge_image = engine.containers(docker_client, ENV, tier="edge")[0].image.id
    secrets = vault.load_or_create(docker_client, ENV, edge_image, [])
    provider = ServiceTokenProvider(
        token_url=f"http://127.0.0.1:{host_port(ENV, 'auth', 'api')}/oauth/token",
        client_id="user-api",
        client_secret=secrets.values["user-api-client"]["client-secret"],
    )
    service_token = await provider.token_for("user-service")
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        profile = await http.get(
            f"http://{engine.address(api)}:8002/v1/profile",
            headers={"Authorization": f"Bearer {user_token}"},
        )
        subject = profile.json()["subject"]
        requests = {
            "api -> service -> PostgreSQL": http.build_request(
                "GET",
                f"http://{engine.address(api)}:8002/v1/profile",
                headers={"Authorization": f"Bearer {user_token}"},
            ),
            "service -> PostgreSQL (direct)": http.build_request(
                "PUT",
                f"http://{engine.address(service)}:8001/internal/profiles/{subject}",
                json={"email": email},
                headers={"Authorization": f"Bearer {service_token}"},
            ),
            "edge -> api -> service -> PostgreSQL": http.build_request(
                "GET",
                f"http://127.0.0.1:{host_port(ENV, 'user', 'api')}/v1/profile",
                headers={"Authorization": f"Bearer {user_token}"},
            ),
        }
        results = {}
        for name, request in requests.items():
            await closed_loop(request, http)  # warm-up round: pools, token caches
            results[name] = await closed_loop(request, http)
    return results


def rolling_update_under_load() -> tuple[float, Counter[str]]:
    client = engine.connect()
    images, edge_image = sources.from_dist(ROOT / "dist", list(STACKS))
    base = images["user"].service
    client.images.get(base).tag("uo-bench/user-service", "base")
    new_image, _ = client.images.build(
        fileobj=io.BytesIO(
            f"FROM uo-bench/user-service:base\nENV UO_BENCH_GENERATION={time.time()}\n".encode()
        ),
        tag="uo-bench/user-service:next",
        rm=True,
    )
    images["user"] = replace(images["user"], service=new_image.id)
    plan = reconcile.Plan(ENV, images, edge_image, repo=str(ROOT))
    _, token = login()
    url = f"http://127.0.0.1:{host_port(ENV, 'user', 'api')}/v1/profile"
    stop, results = threading.Event(), Counter[str]()

    def load() -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=15, limits=limits, headers=headers) as http:
            for _ in range(20_000):
                if stop.is_set():
                    return
                try:
                    results["ok" if http.get(url).status_code == 200 else "failed"] += 1
                except httpx.HTTPError:
                    results["failed"] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        reconcile.up(client, plan, lambda line: None)
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join()
    return elapsed, results


def main() -> int:
    print("uo up: cold and warm ...", file=sys.stderr)
    timed_uo("down", "--volumes")
    cold = timed_uo("up")
    warm = timed_uo("up")
    print("rolling update under load ...", file=sys.stderr)
    rolled, load = rolling_update_under_load()
    timed_uo("up")  # back to the working tree's image
    print("chain vs direct ...", file=sys.stderr)
    figures = asyncio.run(chain_vs_direct())

    print(f"\n{'uo up':<40}{'seconds':>10}")
    print(f"{'cold (no containers, no volumes)':<40}{cold:>10.1f}")
    print(f"{'warm (nothing changed)':<40}{warm:>10.1f}")
    print(f"{'rolling update of user-service':<40}{rolled:>10.1f}")
    print(f"  requests during it: {load['ok']} ok, {load['failed']} failed (target 0)")
    print(f"\n{'at 32 concurrent':<40}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for name, row in figures.items():
        print(
            f"{name:<40}{row['rps']:>10.0f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}{row['failed']:>8.0f}"
        )
    chain = figures["api -> service -> PostgreSQL"]["rps"]
    direct = figures["service -> PostgreSQL (direct)"]["rps"]
    print(f"\nchain / direct throughput: {100 * chain / direct:.0f} % (target >= 60 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
