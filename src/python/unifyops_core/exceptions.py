"""The one way UnifyOps code fails.

Every error a service raises on purpose is a ``UnifyOpsError``; the exception handlers turn it into
the uniform JSON body. The hierarchy, with HTTP status and stable ``error_type``::

    UnifyOpsError                      500 internal_error
    ├── ClientError                    400 bad_request
    │   ├── ValidationError            422 validation_error
    │   ├── AuthenticationError        401 authentication_failed
    │   │   └── InvalidServiceTokenError 401 invalid_service_token
    │   ├── AuthorizationError         403 forbidden
    │   ├── NotFoundError              404 not_found
    │   │   └── RecordNotFoundError    404 db_record_not_found
    │   ├── ConflictError              409 conflict
    │   │   └── PreconditionFailedError 412 precondition_failed
    │   ├── PayloadTooLargeError       413 payload_too_large
    │   ├── PreconditionRequiredError  428 precondition_required
    │   └── RateLimitedError           429 rate_limited
    └── ServerError                    500 internal_error
        ├── DependencyUnavailableError 503 dependency_unavailable
        │   └── OverloadedError        503 overloaded
        ├── DownstreamError            502 downstream_error
        └── DeadlineExceededError      504 deadline_exceeded

An error may carry the ``error_id`` another service already gave the same failure (the client sets
it when it turns a downstream error body back into an exception), so a gateway relays a failure
without inventing a new identity for it. ``DownstreamError`` is what a downstream 5xx becomes.
``InvalidServiceTokenError`` is the one 401 after which the calling service fetches a new service
token and retries; any other 401 (a user's wrong password) is the caller's answer, never retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class UnifyOpsError(Exception):
    """Base of every deliberate UnifyOps failure; unexpected ones become 500 internal_error."""

    status_code: ClassVar[int] = 500
    # Not a ClassVar: a relayed error keeps the more specific type the downstream service gave it.
    error_type: str = "internal_error"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        error_id: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else None
        self.error_id = error_id
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ClientError(UnifyOpsError):
    """The request cannot be served as sent; the caller must change it."""

    status_code = 400
    error_type = "bad_request"
    default_message = "Bad request"


class ValidationError(ClientError):
    """The request is well-formed but its content is invalid (details name the fields)."""

    status_code = 422
    error_type = "validation_error"
    default_message = "Request validation failed"


class AuthenticationError(ClientError):
    """No credentials, or credentials that could not be verified."""

    status_code = 401
    error_type = "authentication_failed"
    default_message = "Authentication required"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        error_id: str | None = None,
    ) -> None:
        # RFC 6750: a 401 tells the client which scheme to use.
        super().__init__(
            message,
            details=details,
            headers={"WWW-Authenticate": "Bearer", **(headers or {})},
            error_id=error_id,
        )


class InvalidServiceTokenError(AuthenticationError):
    """A service-to-service call whose service token was rejected (expired, revoked, signed with a
    rotated-out key, meant for another audience): the caller should fetch a new token."""

    error_type = "invalid_service_token"
    default_message = "Service token rejected"


class AuthorizationError(ClientError):
    """Verified credentials that do not allow this action."""

    status_code = 403
    error_type = "forbidden"
    default_message = "Not allowed"


class NotFoundError(ClientError):
    """The addressed resource does not exist (or is not visible to the caller)."""

    status_code = 404
    error_type = "not_found"
    default_message = "Not found"


class RecordNotFoundError(NotFoundError):
    """A database lookup found no row."""

    error_type = "db_record_not_found"
    default_message = "Record not found"


class ConflictError(ClientError):
    """The request conflicts with the current state (duplicate key, stale version)."""

    status_code = 409
    error_type = "conflict"
    default_message = "Conflict with the current state"


class PreconditionFailedError(ConflictError):
    """An If-Match precondition did not hold: someone else changed the resource first."""

    status_code = 412
    error_type = "precondition_failed"
    default_message = "The resource was changed by someone else"


class PayloadTooLargeError(ClientError):
    """The request body is larger than the service accepts (``max_body_bytes``)."""

    status_code = 413
    error_type = "payload_too_large"
    default_message = "Request body is too large"


class PreconditionRequiredError(ClientError):
    """A write that must say which version it changes (If-Match) did not."""

    status_code = 428
    error_type = "precondition_required"
    default_message = "This update needs an If-Match header with the version you read"


class RateLimitedError(ClientError):
    """Too many requests; ``retry_after`` seconds is sent as the Retry-After header."""

    status_code = 429
    error_type = "rate_limited"
    default_message = "Too many requests"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        details: Mapping[str, Any] | None = None,
        error_id: str | None = None,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(message, details=details, headers=headers, error_id=error_id)
        self.retry_after = retry_after


class ServerError(UnifyOpsError):
    """The service failed; the caller may retry later."""


class DependencyUnavailableError(ServerError):
    """A dependency (database, another service) cannot be reached or is not ready."""

    status_code = 503
    error_type = "dependency_unavailable"
    default_message = "A dependency is unavailable"


class OverloadedError(DependencyUnavailableError):
    """This tier has as many requests in flight as it may (load shedding): retry after a moment."""

    error_type = "overloaded"
    default_message = "The service is busy; retry later"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class DeadlineExceededError(ServerError):
    """The request's deadline (``X-Request-Deadline``) passed before an answer was ready."""

    status_code = 504
    error_type = "deadline_exceeded"
    default_message = "The request took longer than its deadline allowed"


class DownstreamError(ServerError):
    """Another service answered with an error; keeps its status, type and error_id."""

    status_code = 502
    error_type = "downstream_error"
    default_message = "A downstream service failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        downstream_status: int,
        downstream_error_type: str,
        downstream_error_id: str | None = None,
        service: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details, error_id=downstream_error_id)
        self.downstream_status = downstream_status
        self.downstream_error_type = downstream_error_type
        self.downstream_error_id = downstream_error_id
        self.service = service


def error_class_for(error_type: str, status_code: int) -> type[UnifyOpsError]:
    """The class for a failure another service reported in the uniform shape.

    A downstream 4xx (or 503) keeps its meaning, so the caller sees the same kind of failure; any
    other 5xx becomes ``DownstreamError``, because this service, not its caller, must handle it.
    """
    if status_code >= 500 and status_code != DependencyUnavailableError.status_code:
        return DownstreamError
    classes = _all_error_classes()
    for cls in classes:
        if cls.error_type == error_type and cls.status_code == status_code:
            return cls
    for cls in classes:
        if cls.status_code == status_code:
            return cls
    return ClientError


def _all_error_classes() -> list[type[UnifyOpsError]]:
    # Breadth-first, so for a status the most general class comes first.
    found: list[type[UnifyOpsError]] = []
    queue: list[type[UnifyOpsError]] = [UnifyOpsError]
    while queue:
        cls = queue.pop(0)
        found.append(cls)
        queue.extend(cls.__subclasses__())
    return found


__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ClientError",
    "ConflictError",
    "DeadlineExceededError",
    "DependencyUnavailableError",
    "DownstreamError",
    "InvalidServiceTokenError",
    "NotFoundError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "RecordNotFoundError",
    "ServerError",
    "UnifyOpsError",
    "ValidationError",
    "error_class_for",
]
