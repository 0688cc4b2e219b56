"""Structured logging: one redacted JSON object per line, configured once per process.

Every line carries the service's identity (name, version, environment, unifyops_core version,
host), the request id of the request being served, the trace and span ids of the span current
when tracing is on (tracing.py), the error id of a failure, and any extra fields bound by the
caller. Standard-library logging (uvicorn, SQLAlchemy, httpx) is routed into the same
sink, so a service has exactly one log format. JSON encoding escapes newlines, so a value cannot
forge a second log line.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import sys
import threading
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from loguru import logger

from unifyops_core._version import __version__ as core_version
from unifyops_core.context import current_request_id
from unifyops_core.redaction import redact, redact_text
from unifyops_core.tracing import current_ids

# Fields the formatter places itself; everything else bound with logger.bind() goes under "extra".
_TOP_LEVEL_EXTRA = ("request_id", "error_id", "trace_id", "span_id")
_STDLIB_LOGGER_KEY = "stdlib_logger"


@dataclass(frozen=True)
class _Identity:
    service: str
    version: str
    environment: str
    host: str

    @property
    def fields(self) -> dict[str, Any]:
        """The identity as it appears on every line, redacted (computed once per identity)."""
        return _identity_fields(self)


@functools.lru_cache(maxsize=8)
def _identity_fields(identity: _Identity) -> dict[str, Any]:
    fields = {
        "service": identity.service,
        "version": identity.version,
        "environment": identity.environment,
        "core_version": core_version,
        "host": identity.host,
    }
    redacted: dict[str, Any] = redact(fields)
    return redacted


_DATABASE_PACKAGES = frozenset({"sqlalchemy", "asyncpg"})


def _from_database(error: BaseException | None) -> bool:
    """Whether ``error`` or anything in its chain was raised by the database layer."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error).__module__.split(".")[0] in _DATABASE_PACKAGES:
            return True
        error = error.__cause__ or error.__context__
    return False


def _format_exception(record: dict[str, Any]) -> dict[str, Any] | None:
    exc = record["exception"]
    if exc is None or exc.type is None:
        return None
    if _from_database(exc.value):
        # Driver messages quote SQL and the values bound to it ("invalid input for query argument
        # $1: <value>"), which may be a user's secret: the frames and the type are enough.
        return {
            "type": exc.type.__name__,
            "message": f"{exc.type.__name__} (database error; message withheld)",
            "traceback": "".join(traceback.format_tb(exc.traceback)),
        }
    # Frames and messages only: diagnose-style local variables never reach the log.
    return {
        "type": exc.type.__name__,
        "message": str(exc.value),
        "traceback": "".join(traceback.format_exception(exc.type, exc.value, exc.traceback)),
    }


def render_record(record: dict[str, Any], identity: _Identity) -> str:
    """The JSON line for one loguru record (redacted)."""
    return _render(
        when=record["time"],
        level=record["level"].name,
        message=record["message"],
        logger_name=record["name"],
        extra=dict(record["extra"]),
        exception=_format_exception(record),
        identity=identity,
    )


def _render(
    *,
    when: datetime,
    level: str,
    message: str,
    logger_name: str | None,
    extra: dict[str, Any],
    exception: dict[str, Any] | None,
    identity: _Identity,
) -> str:
    """One JSON line. Only what varies from line to line is redacted here (the message, the
    logger's name, the ids, extra fields, the exception): the identity is redacted once, when
    logging is configured, and the timestamp and level are ours. A full walk of the line cost
    ~40 % of an access line."""
    request_id = extra.pop("request_id", None) or current_request_id()
    error_id = extra.pop("error_id", None)
    trace_id, span_id = extra.pop("trace_id", None), extra.pop("span_id", None)
    if trace_id is None and (ids := current_ids()) is not None:
        trace_id, span_id = ids
    logger_name = extra.pop(_STDLIB_LOGGER_KEY, None) or logger_name
    payload: dict[str, Any] = {
        "timestamp": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": level,
        "message": redact_text(message),
        "logger": redact(logger_name),
        **identity.fields,
        "request_id": redact(request_id),
        "error_id": redact(error_id),
        "trace_id": redact(trace_id),
        "span_id": redact(span_id),
    }
    if extra:
        payload["extra"] = redact(extra)
    if exception:
        payload["exception"] = redact(exception)
    return json.dumps(payload, default=str, ensure_ascii=False)


class _JsonSink:
    # No ``write`` method: loguru would take the sink for a text stream and format lines itself.
    def __init__(self, identity: _Identity, stream: IO[str]) -> None:
        self.identity = identity
        self._stream = stream
        # loguru serialises its own calls; lines written around it (access_line) take this too.
        self._lock = threading.Lock()

    def __call__(self, message: Any) -> None:
        self.write_line(render_record(message.record, self.identity))

    def write_line(self, line: str) -> None:
        with self._lock:
            _writing.active = True
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            finally:
                _writing.active = False


# Set while this thread holds a sink's lock: a line logged then (a finalizer run by a collection
# during the write, a signal handler) is dropped by the sink's filter before loguru takes its
# own lock, as loguru drops a re-entrant line; waiting would deadlock.
_writing = threading.local()


def _not_reentrant(record: Any) -> bool:
    return not getattr(_writing, "active", False)


class InterceptHandler(logging.Handler):
    """Routes standard-library log records into loguru, keeping the logger's name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info).bind(**{_STDLIB_LOGGER_KEY: record.name}).log(
            level, record.getMessage()
        )


# Libraries whose INFO lines repeat per request what our own lines say (or say nothing an operator
# needs): httpx/httpcore log every request sent, SQLAlchemy's engine every statement and
# transaction (its own default is WARNING; routing it into our handler must not lower that).
_QUIET_LIBRARY_LOGGERS = ("httpx", "httpcore", "sqlalchemy")
# loguru's levels without a standard-library twin.
_LOGURU_ONLY_LEVELS = {"TRACE": 5, "SUCCESS": 25}


def stdlib_level(level: str) -> int:
    """The standard-library number for a loguru level name (``"INFO"`` -> 20)."""
    name = level.upper()
    if name in _LOGURU_ONLY_LEVELS:
        return _LOGURU_ONLY_LEVELS[name]
    number = logging.getLevelName(name)
    if not isinstance(number, int):
        raise ValueError(f"unknown log level: {level!r}")
    return number


# What configure_logging last let through; loguru's own default sink, before it, writes DEBUG.
_lowest_level = logging.DEBUG
# The sink configure_logging installed (None before it, when loguru's default sink writes).
_sink: _JsonSink | None = None
ACCESS_LOGGER = "unifyops_core.middleware"


def writes_debug() -> bool:
    """Whether a DEBUG record would be written: lets a hot path skip building one that would not
    (loguru drops it only after its arguments were computed)."""
    return _lowest_level <= logging.DEBUG


def access_line(method: str, path: str, status: int, duration_ms: float) -> None:
    """The request's access line: the same JSON line ``logger.bind(...).info(...)`` would write,
    straight to the sink. loguru's record (a frame walk, a bound logger, its handler's checks) was
    ~6 % of a tier's CPU for this one line on every request."""
    message = f"{method} {path} {status}"
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
    sink = _sink
    if sink is None:
        logger.bind(**fields).opt(depth=1).info(message)  # named after the caller, as before
        return
    if _lowest_level > logging.INFO:
        return
    try:
        line = _render(
            when=datetime.now(UTC),
            level="INFO",
            message=message,
            logger_name=ACCESS_LOGGER,
            extra=fields,
            exception=None,
            identity=sink.identity,
        )
        sink.write_line(line)
    except Exception as exc:  # as loguru's catch=True: a log line never fails a request
        print(f"access line not written: {exc!r}", file=sys.stderr)


def configure_logging(
    *,
    service: str,
    version: str,
    environment: str,
    level: str = "INFO",
    stream: IO[str] | None = None,
) -> None:
    """Send all logging of this process, as redacted JSON lines, to ``stream`` (stdout).

    Calling it again replaces the previous configuration (tests rely on that).
    """
    global _lowest_level, _sink
    identity = _Identity(service, version, environment, socket.gethostname())
    _lowest_level = stdlib_level(level)
    _sink = _JsonSink(identity, stream or sys.stdout)
    logger.remove()
    logger.add(
        _sink,
        level=level.upper(),
        filter=_not_reentrant,
        diagnose=False,
        backtrace=False,
        catch=True,
    )
    # The root logger filters at the configured level, before a record is built and handed to
    # loguru. Left at 0 it would also make uvicorn wrap the app in its TRACE message logger, which
    # does work on every ASGI message even though nothing it logs is ever written.
    logging.basicConfig(handlers=[InterceptHandler()], level=stdlib_level(level), force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "httpx", "alembic"):
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = []
        stdlib_logger.propagate = True
        stdlib_logger.setLevel(logging.NOTSET)
    # httpx logs one INFO line per request it sends (ServiceClient already writes that call,
    # redacted, at DEBUG); SQLAlchemy one per statement, BEGIN and ROLLBACK. They speak only of
    # problems.
    for name in _QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Our middleware writes the access line; uvicorn's own would be a second, unstructured one.
    logging.getLogger("uvicorn.access").disabled = True


__all__ = [
    "ACCESS_LOGGER",
    "InterceptHandler",
    "access_line",
    "configure_logging",
    "render_record",
    "stdlib_level",
    "writes_debug",
]
