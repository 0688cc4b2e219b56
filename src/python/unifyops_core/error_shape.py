"""The uniform error body every UnifyOps service answers with, and how it is built."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

ERROR_ID_HEADER = "X-Error-ID"


class ErrorResponse(BaseModel):
    """``{status_code, message, error_id, error_type, timestamp}`` (+ ``details`` when useful)."""

    status_code: int = Field(examples=[404])
    message: str = Field(examples=["User not found"])
    error_id: str = Field(examples=["550e8400-e29b-41d4-a716-446655440000"])
    error_type: str = Field(examples=["db_record_not_found"])
    timestamp: str = Field(examples=["2024-01-01T12:00:00.123456Z"])
    details: dict[str, Any] | None = None


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
    body = ErrorResponse(
        status_code=status_code,
        message=message,
        error_id=error_id or new_error_id(),
        error_type=error_type,
        timestamp=utc_timestamp(),
        details=details,
    )
    return body.model_dump(exclude_none=True)


def is_error_body(payload: object) -> bool:
    """Whether a decoded JSON payload is in the uniform shape (as another service sent it)."""
    return isinstance(payload, dict) and all(
        isinstance(payload.get(key), str) for key in ("message", "error_id", "error_type")
    )


# For FastAPI's ``responses=``: every error status a service may answer, with the uniform body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request",
        401: "Authentication required or failed",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Validation failed",
        429: "Too many requests",
        500: "Internal error",
        502: "A downstream service failed",
        503: "A dependency is unavailable",
    }.items()
}

__all__ = [
    "ERROR_ID_HEADER",
    "ERROR_RESPONSES",
    "ErrorResponse",
    "error_body",
    "is_error_body",
    "new_error_id",
    "utc_timestamp",
]
