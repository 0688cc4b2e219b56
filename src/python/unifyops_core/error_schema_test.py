"""The body ``error_shape`` builds and the schema ``error_schema`` documents are the same shape,
and the light modules stay light: the app server relies on both."""

from __future__ import annotations

import os
import subprocess
import sys

from unifyops_core import (
    client_address,
    error_responses,
    error_shape,
    health_checks,
    logs,
    metrics,
    middleware,
    tracing,
)
from unifyops_core.error_schema import ERROR_RESPONSES, ErrorResponse


def test_the_body_validates_against_the_documented_model() -> None:
    body = error_shape.error_body(
        status_code=404, message="User not found", error_type="db_record_not_found"
    )
    assert set(body) == set(ErrorResponse.model_fields) - {"details"}
    assert ErrorResponse.model_validate(body).model_dump(exclude_none=True) == body
    detailed = error_shape.error_body(
        status_code=503,
        message="Not ready",
        error_type="dependency_unavailable",
        error_id="e-1",
        details={"checks": {"database": "failed"}},
    )
    assert detailed["details"] == {"checks": {"database": "failed"}}
    assert detailed["error_id"] == "e-1"
    assert ErrorResponse.model_validate(detailed).model_dump(exclude_none=True) == detailed


def test_the_model_is_still_reachable_where_it_used_to_live() -> None:
    assert error_shape.ErrorResponse is ErrorResponse
    assert error_shape.ERROR_RESPONSES is ERROR_RESPONSES
    assert ERROR_RESPONSES[404]["model"] is ErrorResponse


def test_the_modules_a_non_fastapi_process_uses_load_no_heavy_library() -> None:
    # What the app server imports of core: none of it may pull in FastAPI, pydantic, SQLAlchemy or
    # asyncpg (a fresh interpreter, so nothing this test process loaded counts).
    light = [
        error_shape,
        error_responses,
        middleware,
        metrics,
        health_checks,
        logs,
        tracing,
        client_address,
    ]
    modules = [module.__name__ for module in light]
    script = (
        "import sys\n"
        f"for name in {modules!r}: __import__(name)\n"
        "heavy = ('fastapi', 'pydantic', 'sqlalchemy', 'asyncpg')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    loaded = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert loaded == "[]"
