"""The uniform error body as an OpenAPI schema, for FastAPI's ``responses=`` (the body itself is
built by ``error_shape.error_body``; ``error_schema_test`` holds the two to the same fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """``{status_code, message, error_id, error_type, timestamp}`` (+ ``details`` when useful)."""

    status_code: int = Field(examples=[404])
    message: str = Field(examples=["User not found"])
    error_id: str = Field(examples=["550e8400-e29b-41d4-a716-446655440000"])
    error_type: str = Field(examples=["db_record_not_found"])
    timestamp: str = Field(examples=["2024-01-01T12:00:00.123456Z"])
    details: dict[str, Any] | None = None


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

__all__ = ["ERROR_RESPONSES", "ErrorResponse"]
