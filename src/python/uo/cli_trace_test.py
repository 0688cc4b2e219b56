"""`uo trace` and `uo logs` through ``uo.cli.main`` against real containers on the engine.

A throwaway environment (its own random name, so `local` and the e2e tests' `test` are left
alone): four containers of the base image, labelled as `uo up` labels them, each printing the lines
its tier would have written for two requests — one that failed in the service, one that did not.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import docker
import pytest
import yaml

from uo.cli import main
from uo.local.topology import LABEL

FAILED, FINE, ERROR_ID = "req-failed-1", "req-fine-2", "0b3c9a4e-err"
BASE = datetime.now(UTC) - timedelta(minutes=5)


def _at(ms: float) -> str:
    return (BASE + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def _core(tier: str, end_ms: float, request_id: str, level: str = "INFO", **extra: Any) -> str:
    error_id = extra.pop("error_id", None)
    message = extra.pop(
        "message", f"{extra.get('method')} {extra.get('path')} {extra.get('status')}"
    )
    record = {
        "timestamp": _at(end_ms),
        "level": level,
        "message": message,
        "logger": "unifyops_core.middleware",
        "service": f"user-{tier}",
        "request_id": request_id,
        "error_id": error_id,
        "extra": extra,
    }
    return json.dumps(record)


def _access(tier: str, end_ms: float, ms: float, status: int, request_id: str = FAILED) -> str:
    return _core(
        tier, end_ms, request_id, method="GET", path="/v1/profile", status=status, duration_ms=ms
    )


def _edge_like(service: str, end_ms: float, ms: float, status: int, request_id: str) -> str:
    return json.dumps(
        {
            "timestamp": _at(end_ms),
            "service": service,
            "event": "access",
            "request_id": request_id,
            "method": "GET",
            "path": "/api/v1/profile",
            "status": status,
            "duration_ms": ms,
        }
    )


# (stack, tier) -> lines, in the order the container prints them.
LINES = {
    ("platform", "edge"): [
        json.dumps({"timestamp": _at(0), "service": "edge", "event": "listening", "port": 8102}),
        _edge_like("edge", 100, 99, 500, FAILED),
        _edge_like("edge", 300, 20, 200, FINE),
    ],
    ("user", "app"): [
        "app server starting (a plain line)",
        _edge_like("app", 98, 95, 500, FAILED),
        _edge_like("app", 298, 17, 200, FINE),
    ],
    ("user", "api"): [
        _core("api", 94, FAILED, "WARNING", message="user-service answered 500", error_id=ERROR_ID),
        _access("api", 95, 85, 500),
        _access("api", 296, 12, 200, FINE),
    ],
    ("user", "service"): [
        _core("service", 89, FAILED, "ERROR", message="profile lookup failed", error_id=ERROR_ID),
        "Traceback (most recent call last): (a plain line)",
        _access("service", 90, 70, 500),
        _access("service", 294, 8, 200, FINE),
        _core("service", 295, FINE, "DEBUG", message="cache hit"),
    ],
}


@pytest.fixture(scope="module")
def environment() -> Iterator[str]:
    client = docker.DockerClient(
        base_url=os.environ.get("DOCKER_HOST") or "unix:///var/lib/unifyops-docker/docker.sock"
    )
    images = client.images.list(name="unifyops/base-python")
    assert images, "the base image unifyops/base-python is not on the engine (./uo up builds it)"
    name = "tr" + secrets.token_hex(4)
    created = []
    try:
        for (stack, tier), lines in LINES.items():
            container = client.containers.run(
                images[0].id,
                ["python3", "-c", "import os, sys; sys.stdout.write(os.environ['LINES'])"],
                environment={"LINES": "".join(line + "\n" for line in lines)},
                labels={
                    f"{LABEL}.environment": name,
                    f"{LABEL}.stack": stack,
                    f"{LABEL}.tier": tier,
                },
                name=f"{name}-{stack}-{tier}",
                detach=True,
            )
            created.append(container)
        for container in created:
            assert container.wait(timeout=60)["StatusCode"] == 0
        yield name
    finally:
        for container in created:
            container.remove(force=True)
        client.close()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_by_request_id_prints_the_tree_with_the_failing_hop(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["trace", FAILED, "--env", environment], capsys)
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0].startswith(f"request {FAILED} at ")
    assert rows[0].endswith(": 4 spans")
    spans = [row for row in rows if " ms  (+" in row]
    assert [row.split()[0:2] for row in spans] == [
        ["edge", "platform-edge"],
        ["└─", "app"],
        ["└─", "api"],
        ["└─", "service"],
    ]
    # Deeper hops are indented further; every hop has its status and duration.
    assert [len(row) - len(row.lstrip()) for row in spans] == [0, 0, 3, 6]
    assert "500  99.0 ms" in spans[0]
    failing = [row for row in rows if "failing hop" in row]
    assert failing == [spans[3]]
    assert f"ERROR profile lookup failed error_id={ERROR_ID}" in out
    assert f"WARNING user-service answered 500 error_id={ERROR_ID}" in out
    assert FINE not in out


def test_trace_by_error_id_finds_its_request_and_prints_json(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["trace", ERROR_ID, "--env", environment, "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["request_ids"] == [FAILED]
    assert data["failing"] == {"tier": "service", "container": "user-service", "status": 500}
    tiers = []
    node = data["spans"][0]
    while node:
        tiers.append((node["tier"], node["status"]))
        node = node["children"][0] if node["children"] else None
    assert tiers == [("edge", 500), ("app", 500), ("api", 500), ("service", 500)]
    code, out, _ = run(["trace", ERROR_ID, "--env", environment, "-o", "yaml"], capsys)
    assert code == 0
    assert yaml.safe_load(out) == data  # the same records


def test_trace_of_an_unknown_id_or_outside_since_exits_1_with_a_message(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["trace", "no-such-id", "--env", environment], capsys)
    assert (code, out) == (1, "")
    assert "carries 'no-such-id'" in err
    assert "Traceback" not in err
    # The lines' own timestamps are five minutes old.
    code, out, err = run(["trace", FAILED, "--env", environment, "--since", "1m"], capsys)
    assert (code, out) == (1, "")
    code, _, err = run(["trace", FAILED, "--env", "tr-nothing-here"], capsys)
    assert code == 1
    assert "no containers in tr-nothing-here" in err


def test_trace_rejects_a_bad_since(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["trace", FAILED, "--since", "yesterday"])
    assert exited.value.code == 2
    assert "expected a duration" in capsys.readouterr().err


def _sources(out: str) -> list[str]:
    return [line.split(" | ", 1)[0].strip() for line in out.splitlines()]


def test_logs_cover_every_container_prefixed_and_in_time_order(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["logs", "--env", environment], capsys)
    assert code == 0, err
    assert set(_sources(out)) == {"platform-edge", "user-app", "user-api", "user-service"}
    assert len(out.splitlines()) == sum(len(lines) for lines in LINES.values())
    # Each container's lines keep their order; plain lines are there too.
    service = [line.split(" | ", 1)[1] for line in out.splitlines() if "user-service" in line[:20]]
    assert service == LINES[("user", "service")]
    code, out, _ = run(["logs", "--env", environment, "--tail", "1"], capsys)
    assert len(out.splitlines()) == 4


def test_logs_filter_by_level_error_id_stack_and_tier(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["logs", "--env", environment, "--level", "warning"], capsys)
    assert code == 0
    assert sorted(_sources(out)) == ["user-api", "user-service"]
    assert "plain line" not in out
    _, out, _ = run(["logs", "--env", environment, "--level", "debug"], capsys)
    assert "cache hit" in out
    assert "plain line" not in out  # a plain line has no level: only shown without --level
    assert "listening" in out  # a JSON line without a level counts as info
    _, out, _ = run(["logs", "--env", environment, "--error-id", ERROR_ID], capsys)
    assert len(out.splitlines()) == 2
    # One container: no prefix.
    _, out, _ = run(["logs", "user", "service", "--env", environment, "--level", "error"], capsys)
    assert out.splitlines() == [LINES[("user", "service")][0]]
    _, out, _ = run(["logs", "platform", "--env", environment, "--since", "1h"], capsys)
    assert out.splitlines() == LINES[("platform", "edge")]
    # A JSON line's time is its own timestamp (five minutes old); a plain line's, the engine's.
    _, out, _ = run(["logs", "--env", environment, "--since", "1m"], capsys)
    assert [line.split(" | ", 1)[1] for line in out.splitlines()] == [
        "app server starting (a plain line)",
        "Traceback (most recent call last): (a plain line)",
    ]
    code, _, err = run(["logs", "auth", "--env", environment], capsys)
    assert code == 1
    assert f"no auth in {environment}" in err


def test_logs_follow_ends_when_every_container_has_stopped(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["logs", "--env", environment, "--follow", "--level", "error"], capsys)
    assert code == 0
    assert [line.split(" | ", 1)[1] for line in out.splitlines()] == [LINES[("user", "service")][0]]
