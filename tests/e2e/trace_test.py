"""`uo trace` on environment ``test``: a request through the user app's front door (edge → app →
api → service) is one tree, found by its request id; a rejected one is found by its error id."""

from __future__ import annotations

import json
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
