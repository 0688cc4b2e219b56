"""The uniform error body every UnifyOps service answers with, and how it is built.

Plain data, no pydantic: the app server and the edge build error bodies too, and need not carry
the validation library for it. The OpenAPI schema of the same shape is ``error_schema``.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime
from typing import Any

ERROR_ID_HEADER = "X-Error-ID"


def new_error_id() -> str:
    return str(uuid.uuid4())


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``, e.g. ``2024-01-01T12:00:00.123456Z``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(
    *,
    status_code: int,
    message: str,
    error_type: str,
    error_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_code": int(status_code),
        "message": str(message),
        "error_id": error_id or new_error_id(),
        "error_type": str(error_type),
        "timestamp": utc_timestamp(),
    }
    if details is not None:
        body["details"] = dict(details)
    return body


def is_error_body(payload: object) -> bool:
    """Whether a decoded JSON payload is in the uniform shape (as another service sent it)."""
    return isinstance(payload, dict) and all(
        isinstance(payload.get(key), str) for key in ("message", "error_id", "error_type")
    )


def __getattr__(name: str) -> Any:
    # Before 0.1.9 the OpenAPI model lived here; it is loaded from error_schema on first use only,
    # so that importing this module never loads pydantic (a name, not an import, for Pants too).
    if name in ("ErrorResponse", "ERROR_RESPONSES"):
        return getattr(importlib.import_module("unifyops_core.error_schema"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ERROR_ID_HEADER",
    "error_body",
    "is_error_body",
    "new_error_id",
    "utc_timestamp",
]
