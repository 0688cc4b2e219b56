"""``register_exception_handlers(app)``: every error of an app leaves in the uniform shape.

Each failure gets one ``error_id`` (or keeps the one a downstream service gave it); the same id is
in the body, in the ``X-Error-ID`` header and in the log line written for that failure. Bodies of
unexpected failures say nothing about their cause: no exception text, SQL, DSN or stack trace.
Bodies of every other 5xx (a dependency down, a downstream failure) say only which kind of failure
it was: their specific message and details, which may name internal hosts, go to the log line.
A value the database refuses as data (SQLSTATE class 22: out of range, NUL, bad encoding) is the
caller's input, so it is a 422, logged without the value. A database that cannot be reached
(refused, timed out, pool checkout timeout, connection lost, server restarting) is a 503
``dependency_unavailable``: the caller may retry, and readiness reports the same outage. So is
one that did not answer in time (``statement_timeout`` or ``lock_timeout`` cancelled the
statement): the database is slow, not the request wrong.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from unifyops_core.error_responses import error_response, unexpected_error_response
from unifyops_core.exceptions import (
    ConflictError,
    DependencyUnavailableError,
    RecordNotFoundError,
    UnifyOpsError,
    ValidationError,
)

# Stable error types for the HTTP errors Starlette raises itself (unknown route, wrong method...).
_HTTP_ERROR_TYPES = {
    400: "bad_request",
    401: "authentication_failed",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
_GENERIC_MESSAGES = {404: "Not found", 405: "Method not allowed"}
# Details a 5xx body may keep: readiness outcomes per check name ("database": "failed").
_PUBLIC_SERVER_DETAILS = frozenset({"checks"})
_DATA_EXCEPTION_CLASS = "22"
_CONNECTION_EXCEPTION_CLASS = "08"
_SERVER_GOING_AWAY = frozenset({"57P01", "57P02", "57P03"})
# query_canceled (statement_timeout, a cancel request) and lock_not_available (lock_timeout).
_TOO_SLOW = frozenset({"57014", "55P03"})


async def _unifyops_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnifyOpsError)
    message, details = exc.message, exc.details
    if exc.status_code >= 500:
        # The log line (cause=exc) keeps the specific message; the body keeps the kind only.
        message = type(exc).default_message
        details = {k: v for k, v in (details or {}).items() if k in _PUBLIC_SERVER_DETAILS} or None
    return error_response(
        status_code=exc.status_code,
        message=message,
        error_type=exc.error_type,
        error_id=exc.error_id,
        details=details,
        headers=exc.headers,
        request=request,
        cause=exc,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status >= 500:
        return unexpected_error_response(request, exc)
    default = _GENERIC_MESSAGES.get(status, "Request failed")
    # Starlette's own details ("Not Found") are replaced by ours; a string a route chose is kept.
    message = (
        exc.detail
        if isinstance(exc.detail, str) and exc.detail not in {"Not Found", "Method Not Allowed"}
        else default
    )
    return error_response(
        status_code=status,
        message=message,
        error_type=_HTTP_ERROR_TYPES.get(status, "http_error"),
        headers=exc.headers,
        request=request,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the rejected input back: it may be a password.
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        status_code=ValidationError.status_code,
        message=ValidationError.default_message,
        error_type=ValidationError.error_type,
        details={"errors": _field_errors(exc)},
        request=request,
    )


async def _no_result(request: Request, exc: Exception) -> JSONResponse:
    return await _unifyops_error(request, RecordNotFoundError())


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # The database's message names tables, constraints and values; it belongs in no body.
    logger.bind(db_error=type(getattr(exc, "orig", exc)).__name__).info("integrity error")
    return await _unifyops_error(request, ConflictError("Conflict with existing data"))


def _sqlstate(exc: DBAPIError) -> str:
    # SQLAlchemy's asyncpg adapter copies the driver's SQLSTATE onto the error it raises.
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _lost_connection(exc: DBAPIError) -> bool:
    # SQLAlchemy marks a disconnect it recognised; SQLSTATE class 08 is a connection exception,
    # 57P01-57P03 a server shutting down or starting up.
    sqlstate = _sqlstate(exc)
    return (
        exc.connection_invalidated
        or sqlstate.startswith(_CONNECTION_EXCEPTION_CLASS)
        or sqlstate in _SERVER_GOING_AWAY
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (refused, timed out, pool exhausted, restarting): a 503
    the caller may retry, never a 500; the cause goes to the log line."""
    error = DependencyUnavailableError(f"database unavailable: {type(exc).__name__}")
    error.__cause__ = exc
    return await _unifyops_error(request, error)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    sqlstate = _sqlstate(exc)
    if _lost_connection(exc) or sqlstate in _TOO_SLOW:
        return await _database_unavailable(request, exc)
    if not sqlstate.startswith(_DATA_EXCEPTION_CLASS):
        return unexpected_error_response(request, exc)
    # The driver's message quotes the refused value (which may be a secret): type and code only.
    logger.bind(db_error=type(exc.orig).__name__, sqlstate=sqlstate).info("database refused data")
    return await _unifyops_error(
        request,
        ValidationError("A value is out of range or contains characters that cannot be stored"),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(request, exc)


def register_exception_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a uniform JSON body with an ``X-Error-ID`` header."""
    app.add_exception_handler(UnifyOpsError, _unifyops_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NoResultFound, _no_result)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # Raised while opening a connection, before SQLAlchemy wraps anything: refused, unreachable,
    # connect timeout (OSError), the pool's checkout timeout, a server that is not accepting yet.
    app.add_exception_handler(OSError, _database_unavailable)
    app.add_exception_handler(SQLAlchemyTimeoutError, _database_unavailable)
    app.add_exception_handler(asyncpg.PostgresConnectionError, _database_unavailable)
    app.add_exception_handler(asyncpg.CannotConnectNowError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)


__all__ = ["error_response", "register_exception_handlers", "unexpected_error_response"]
