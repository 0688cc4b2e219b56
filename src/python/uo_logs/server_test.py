"""The log reader's API over a containers directory in the engine's format: a request through
edge → api → service that failed at the service is found by its error id and answered as the
`uo trace --json` tree; unknown ids are 404, malformed ones 400, and health says whether the
engine's logs are readable."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from uo_logs.server import Settings, serve

LABEL = "io.unifyops.local"


def container(
    root: Path, name: str, tier: str, lines: list[tuple[datetime, dict[str, Any]]]
) -> dict[str, Any]:
    """A container's log file as uo up mounts it (``<root>/<id>.log``); returns its index entry."""
    labels = {f"{LABEL}.environment": "test", f"{LABEL}.stack": "user", f"{LABEL}.tier": tier}
    with (root / f"{name}.log").open("w") as log:
        for when, record in lines:
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
            log.write(json.dumps({"log": json.dumps(record) + "\n", "time": stamp}) + "\n")
    return {"id": name, "name": f"uo-test-user-{tier}", "created": name, "labels": labels}


def access(
    when: datetime, tier: str, status: int, duration_ms: float, **more: Any
) -> tuple[datetime, dict[str, Any]]:
    record = {
        "timestamp": when.isoformat(),
        "level": "INFO",
        "message": f"GET /v1/profile {status}",
        "request_id": "req-1",
        "method": "GET",
        "path": "/v1/profile",
        "status": status,
        "duration_ms": duration_ms,
        **more,
    }
    return when, record


def reader_files(root: Path) -> str:
    """A request through api → service that failed at the service (error id ``err-abc``,
    request id ``req-1``), as the log files under ``root``; returns their index."""
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    error = {
        "timestamp": (now - timedelta(milliseconds=30)).isoformat(),
        "level": "ERROR",
        "message": "database unavailable",
        "request_id": "req-1",
        "error_id": "err-abc",
    }
    api = container(root, "a1", "api", [access(now, "api", 503, 50)])
    service = container(
        root,
        "a2",
        "service",
        [
            (now - timedelta(milliseconds=30), error),
            access(now - timedelta(milliseconds=20), "service", 503, 20),
        ],
    )
    return json.dumps([api, service])


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[str]:
    index = reader_files(tmp_path)
    with serving(tmp_path, index) as url:
        yield url


@contextmanager
def serving(root: Path, index: str = "[]") -> Iterator[str]:
    environ = {"UO_LOGS_ROOT": str(root), "UO_LOGS_INDEX": index, "UO_ENVIRONMENT": "test"}
    settings = Settings({**environ, "UO_PORT": "0"})
    server = serve(settings, "127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_error_id_is_answered_with_the_tree_and_the_failing_hop(reader: str) -> None:
    response = httpx.get(f"{reader}/v1/trace/err-abc")
    assert response.status_code == 200, response.text
    tree = response.json()
    assert tree["id"] == "err-abc"
    assert tree["request_ids"] == ["req-1"]
    assert tree["failing"] == {"tier": "service", "container": "user-service", "status": 503}
    [api] = tree["spans"]
    assert (api["tier"], api["status"], api["duration_ms"]) == ("api", 503, 50)
    [service] = api["children"]
    assert (service["tier"], service["failing"]) == ("service", True)
    assert [event["error_id"] for event in service["events"]] == ["err-abc"]


def test_unknown_malformed_and_health(reader: str, tmp_path: Path) -> None:
    missing = httpx.get(f"{reader}/v1/trace/no-such-id")
    assert missing.status_code == 404
    assert "carries 'no-such-id'" in missing.json()["message"]
    assert httpx.get(f"{reader}/v1/trace/%20x%2F..").status_code == 400
    assert httpx.get(f"{reader}/v1/trace/err-abc", params={"since": "soon"}).status_code == 400
    too_late = httpx.get(f"{reader}/v1/trace/err-abc", params={"since": "2999-01-01T00:00:00Z"})
    assert too_late.status_code == 404
    assert httpx.get(f"{reader}/elsewhere").status_code == 404
    assert httpx.get(f"{reader}/health/ready").json() == {"status": "ok"}
    with serving(tmp_path / "not-mounted") as unmounted:
        assert httpx.get(f"{unmounted}/health/ready").status_code == 503
