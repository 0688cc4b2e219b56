"""`uo trace` on environment ``test``: a request through the user app's front door (edge → app →
api → service) is one tree, found by its request id; a rejected one is found by its error id."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from e2e.environment import ENVIRONMENT, Running, assert_uniform, bearer, register_and_login
from uo.cli import main


def _trace(identifier: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["trace", identifier, "--env", ENVIRONMENT, "--since", "10m", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def _path(node: dict[str, Any] | None) -> list[tuple[str, int]]:
    hops = []
    while node:
        hops.append((node["tier"], node["status"]))
        node = node["children"][0] if node["children"] else None
    return hops


def test_a_request_through_the_front_door_is_one_tree_of_every_hop(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = register_and_login(running, f"e2e-trace-{uuid.uuid4().hex[:8]}@example.com")
    # The first visit creates the profile (the gateway's read answers 404, then it writes): the
    # traced request is a plain read, one call per hop.
    first = httpx.get(
        running.url("user-app", "/api/v1/profile"), headers=bearer(tokens["access_token"])
    )
    assert first.status_code == 200, first.text
    request_id = f"e2e-trace-{uuid.uuid4().hex}"
    response = httpx.get(
        running.url("user-app", "/api/v1/profile"),
        headers={**bearer(tokens["access_token"]), "X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == request_id
    data = _trace(request_id, capsys)
    assert data["request_ids"] == [request_id]
    assert _path(data["spans"][0]) == [("edge", 200), ("app", 200), ("api", 200), ("service", 200)]
    assert data["failing"] is None


def test_an_error_id_leads_to_the_hop_that_rejected_the_request(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    response = httpx.get(running.url("user-app", "/api/v1/profile"))  # no token
    error_id = assert_uniform(response, 401)["error_id"]
    assert isinstance(error_id, str)
    data = _trace(error_id, capsys)
    assert data["request_ids"] == [response.headers["X-Request-ID"]]
    assert _path(data["spans"][0]) == [("edge", 401), ("app", 401), ("api", 401)]
    assert data["failing"] == {"tier": "api", "container": "user-api", "status": 401}


def _chain(span: dict[str, Any]) -> list[tuple[str, str]]:
    """(container, kind) from a span down its first children."""
    hops = []
    node: dict[str, Any] | None = span
    while node:
        hops.append((node["container"], node["kind"]))
        node = node["children"][0] if node["children"] else None
    return hops


def _descendants(span: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    stack = [span]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node["children"])
    return found


def test_the_request_is_one_opentelemetry_trace_from_app_server_to_the_database(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chart's overlay for this machine sets tracing.exporter=log: each tier writes its spans
    to its log, and the W3C traceparent ties them into one trace (read back by `uo trace`)."""
    tokens = register_and_login(running, f"e2e-otel-{uuid.uuid4().hex[:8]}@example.com")
    request_id = f"e2e-otel-{uuid.uuid4().hex}"
    response = httpx.get(
        running.url("user-app", "/api/v1/profile"),
        headers={**bearer(tokens["access_token"]), "X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 15  # spans are written in batches, every second
    while True:
        data = _trace(request_id, capsys)
        roots = data["otel_spans"]
        every = [span for root in roots for span in _descendants(root)]
        containers = {span["container"] for span in every}
        if {"user-app", "user-api", "user-service"} <= containers or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(data["trace_ids"]) == 1, data["trace_ids"]
    assert len(roots) == 1, [(r["container"], r["name"]) for r in roots]
    (root,) = roots
    hops = _chain(root)
    assert hops[:5] == [
        ("user-app", "server"),
        ("user-app", "client"),
        ("user-api", "server"),
        ("user-api", "client"),
        ("user-service", "server"),
    ], hops
    service = root["children"][0]["children"][0]["children"][0]["children"][0]
    queries = [
        span
        for span in _descendants(service)
        if span["attributes"].get("db.system") == "postgresql"
    ]
    assert queries, "no query span under the service's server span"
    assert all(span["container"] == "user-service" for span in queries)
    assert any("profiles" in span["attributes"].get("db.statement", "") for span in queries)
    # trace_ids come from the lines that carry the request id (the access lines): the tiers'
    # own lines name the trace, so an error_id or request id leads to it.


def test_the_dashboards_search_shows_the_same_tree_through_environment_api(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error-id search as the dashboard asks: environment-api → environment-service → the log
    reader beside Prometheus (the engine's files); the operator (admin) may, a member may not."""
    response = httpx.get(running.url("user-app", "/api/v1/profile"))  # no token
    error_id = assert_uniform(response, 401)["error_id"]
    assert running.outcome.login is not None
    email, password = running.outcome.login
    login = httpx.post(
        running.url("auth-api", "/v1/auth/login"), json={"email": email, "password": password}
    )
    assert login.status_code == 200, login.text
    search = running.url("environment-api", f"/v1/traces/{error_id}")
    # The engine writes a line to its file as it comes, and each tier exports its spans in
    # batches about a second apart: search until two answers a while apart are the same tree.
    deadline = time.monotonic() + 20
    previous: object = None
    while True:
        found = httpx.get(
            search,
            params={"since": "10m"},
            headers=bearer(login.json()["access_token"]),
            timeout=15,
        )
        if found.status_code == 200 and found.json() == previous:
            break
        if found.status_code not in (200, 404) or time.monotonic() > deadline:
            break
        previous = found.json() if found.status_code == 200 else None
        time.sleep(1.5)
    assert found.status_code == 200, found.text
    tree = found.json()
    assert tree["request_ids"] == [response.headers["X-Request-ID"]]
    assert _path(tree["spans"][0]) == [("edge", 401), ("app", 401), ("api", 401)]
    assert tree["failing"] == {"tier": "api", "container": "user-api", "status": 401}
    assert tree == _trace(str(error_id), capsys)  # what `uo trace --json` prints
    member = register_and_login(running, f"e2e-search-{uuid.uuid4().hex[:8]}@example.com")
    refused = httpx.get(search, headers=bearer(member["access_token"]))
    assert assert_uniform(refused, 403)["error_type"] == "forbidden"
    unknown = httpx.get(
        running.url("environment-api", "/v1/traces/no-such-request"),
        headers=bearer(login.json()["access_token"]),
        timeout=15,
    )
    assert assert_uniform(unknown, 404)["error_type"] == "not_found"
