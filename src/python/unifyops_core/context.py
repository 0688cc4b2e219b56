"""Per-request context shared by the middleware, the logger and the client.

A contextvar rather than request.state, so code far from the request (the HTTP client, SQLAlchemy
log lines) sees the same request id without having it passed down.
"""

from __future__ import annotations

from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("unifyops_request_id", default=None)
_client_address: ContextVar[str | None] = ContextVar("unifyops_client_address", default=None)
# Where the error handlers note the error_type of the response they build, for the metrics
# middleware: a list the middleware owns, so a value written in a copied context (a task group,
# a thread) still reaches it.
_error_types: ContextVar[list[str] | None] = ContextVar("unifyops_error_types", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> object:
    """Set the request id; returns a token for ``reset_request_id``."""
    return _request_id.set(request_id)


def reset_request_id(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]


def current_client_address() -> str | None:
    """The address of the client the request being served is for (see ``client_address``)."""
    return _client_address.get()


def set_client_address(address: str | None) -> object:
    """Set the client address; returns a token for ``reset_client_address``."""
    return _client_address.set(address)


def reset_client_address(token: object) -> None:
    _client_address.reset(token)  # type: ignore[arg-type]


def capture_error_type() -> tuple[list[str], object]:
    """Start collecting error types for this request: (the list they go to, a reset token)."""
    holder: list[str] = []
    return holder, _error_types.set(holder)


def note_error_type(error_type: str) -> None:
    """Record the error_type of the error response being built (no-op outside a capture)."""
    holder = _error_types.get()
    if holder is not None:
        holder.append(error_type)


def reset_error_type(token: object) -> None:
    _error_types.reset(token)  # type: ignore[arg-type]


__all__ = [
    "capture_error_type",
    "current_client_address",
    "current_request_id",
    "note_error_type",
    "reset_client_address",
    "reset_error_type",
    "reset_request_id",
    "set_client_address",
    "set_request_id",
]
