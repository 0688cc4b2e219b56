"""The app server's own failures in the uniform error shape (``unifyops_core.error_shape``).

The page handles every ``/api/*`` failure the same way whether the gateway, a service or the app
server produced it, so the app server answers with the same body and ``X-Error-ID`` header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.responses import Response

from unifyops_core.context import note_error_type
from unifyops_core.error_shape import ERROR_ID_HEADER, error_body
from unifyops_core.tracing import current_ids

# Stable error_type per status for errors the app server answers itself (the core's vocabulary).
ERROR_TYPES = {
    400: "bad_request",
    401: "authentication_failed",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    431: "header_too_large",
    501: "not_implemented",
    502: "downstream_error",
    503: "dependency_unavailable",
    504: "upstream_timeout",
}


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "internal_error" if status >= 500 else "http_error")


def error_bytes(status: int, message: str, error_type: str | None = None) -> tuple[bytes, str]:
    """The encoded uniform body and its ``error_id``; the type is noted for the metrics."""
    error_type = error_type or error_type_for(status)
    note_error_type(error_type)
    body = error_body(status_code=status, message=message, error_type=error_type)
    return json.dumps(body).encode(), str(body["error_id"])


def error_response(
    status: int,
    message: str,
    error_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    content, error_id = error_bytes(status, message, error_type)
    return Response(
        content,
        status_code=status,
        media_type="application/json",
        headers={
            **(headers or {}),
            ERROR_ID_HEADER: error_id,
            "Cache-Control": "no-store",
        },
    )


def log(event: str, **fields: object) -> None:
    """One JSON line on stdout, like every other UnifyOps tier."""
    record: dict[str, object] = {
        "timestamp": datetime.now(UTC).isoformat(),
        "service": "app",
        "event": event,
    }
    if (ids := current_ids()) is not None:  # inside a traced /api call (unifyops_core.tracing)
        record["trace_id"], record["span_id"] = ids
    print(json.dumps({**record, **fields}), flush=True)


__all__ = ["ERROR_TYPES", "error_bytes", "error_response", "error_type_for", "log"]
