"""Bad input against every public OpenAPI (schemathesis, bounded examples): no 500s, and every
error answer is in the uniform shape with its X-Error-ID."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.platform_harness import Platform
from unifyops_core.naming import STACKS, Component

UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}
EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def user_token(platform: Platform) -> str:
    # Obtained before any fuzzing: fuzzed logins soon trip the per-address login limit.
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    password = "fuzzing passphrase 1234"
    httpx.post(
        platform.url("auth-api", "/v1/auth/register"), json={"email": email, "password": password}
    )
    login = httpx.post(
        platform.url("auth-api", "/v1/auth/login"), json={"email": email, "password": password}
    )
    token: str = login.json()["access_token"]
    return token


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value; schemathesis keeps every header as a list of values."""
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


def fuzz_operation(operation: Any, base_url: str, token: str, problems: list[str]) -> None:
    @given(case=operation.as_strategy(), send_token=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def probe(case: Any, send_token: bool) -> None:
        headers = {"Authorization": f"Bearer {token}"} if send_token else {}
        response = case.call(base_url=base_url, headers=headers)
        where = f"{operation.method.upper()} {operation.path} -> {response.status_code}"
        if response.status_code >= 500 and response.status_code != 503:
            problems.append(f"{where}: server error {response.text[:200]}")
        if response.status_code >= 400:
            body = response.json()
            error_id = header(response.headers, "x-error-id")
            if not set(body) >= UNIFORM_KEYS or error_id != body.get("error_id"):
                problems.append(f"{where}: not the uniform error shape: {response.text[:200]}")

    probe()


@pytest.mark.parametrize("gateway", [Component(stack, "api").name for stack in STACKS])
def test_no_input_makes_a_gateway_fail_or_answer_off_contract(
    platform: Platform, user_token: str, gateway: str
) -> None:
    schema = schemathesis.openapi.from_url(platform.url(gateway, "/openapi.json"))
    results: list[Any] = list(schema.get_all_operations())  # Ok/Err results; Err raises on .ok()
    operations = [result.ok() for result in results]
    assert operations, f"{gateway} publishes no operations"
    problems: list[str] = []
    for operation in operations:
        fuzz_operation(operation, platform.url(gateway), user_token, problems)
    assert not problems, "\n".join(problems[:20])
