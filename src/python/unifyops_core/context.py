"""Per-request context shared by the middleware, the logger and the client.

A contextvar rather than request.state, so code far from the request (the HTTP client, SQLAlchemy
log lines) sees the same request id without having it passed down.
"""

from __future__ import annotations

from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("unifyops_request_id", default=None)
_client_address: ContextVar[str | None] = ContextVar("unifyops_client_address", default=None)


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


__all__ = [
    "current_client_address",
    "current_request_id",
    "reset_client_address",
    "reset_request_id",
    "set_client_address",
    "set_request_id",
]
