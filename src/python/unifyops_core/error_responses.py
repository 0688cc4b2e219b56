"""One failure, one uniform response and one log line: ``error_response`` and the 500 for the
unplanned (``unexpected_error_response``). Starlette only, so the pure-ASGI middleware and the app
server use them without the exception handlers' FastAPI, SQLAlchemy and asyncpg (``handlers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger
from starlette.requests import Request
from starlette.responses import JSONResponse

from unifyops_core.context import note_error_type
from unifyops_core.error_shape import ERROR_ID_HEADER, error_body, new_error_id


def error_response(
    *,
    status_code: int,
    message: str,
    error_type: str,
    error_id: str | None = None,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    request: Request | None = None,
    cause: BaseException | None = None,
) -> JSONResponse:
    """Build the uniform response and write the one log line of this failure."""
    error_id = error_id or new_error_id()
    note_error_type(error_type)
    body = error_body(
        status_code=status_code,
        message=message,
        error_type=error_type,
        error_id=error_id,
        details=details,
    )
    log = logger.bind(
        error_id=error_id,
        error_type=error_type,
        status_code=status_code,
        method=request.method if request else None,
        path=request.url.path if request else None,
    )
    if status_code >= 500:
        log.opt(exception=cause).error("request failed: {}", message)
    else:
        log.info("request rejected: {}", message)
    return JSONResponse(
        body, status_code=status_code, headers={**(headers or {}), ERROR_ID_HEADER: error_id}
    )


def unexpected_error_response(request: Request | None, exc: BaseException) -> JSONResponse:
    """The 500 for a failure nobody planned for; the cause goes to the log only."""
    return error_response(
        status_code=500,
        message="Internal server error",
        error_type="internal_error",
        request=request,
        cause=exc,
    )


__all__ = ["error_response", "unexpected_error_response"]
