"""The gate every request passes before a handler: a body limit, then input no service can store.

The limit is enforced before reading: a ``Content-Length`` over it is answered 413 at once, a
chunked body is counted while it streams and refused the moment it crosses the limit, and a
``Content-Length`` that is not one non-negative integer is a 400. A body within the limit is
buffered (so it can be checked whole) and handed to the app unchanged; then NUL and unpaired
surrogates in path, query, JSON and form values and keys, and non-finite or absurdly nested JSON,
are answered 422 ``validation_error`` (see ``hostile_input``). Multipart bodies are not inspected:
no UnifyOps route accepts them.
"""

from __future__ import annotations

from email.message import Message as EmailMessage

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unifyops_core.error_responses import error_response
from unifyops_core.exceptions import (
    ClientError,
    PayloadTooLargeError,
    UnifyOpsError,
    ValidationError,
)
from unifyops_core.hostile_input import (
    Problem,
    form_problems,
    json_problems,
    path_problems,
    query_problems,
)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class _ClientGoneError(Exception):
    """The client disconnected while sending its body; nobody is left to answer."""


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self._check_declared_length(headers)
            body = await self._read_body(receive)
        except UnifyOpsError as error:
            await _answer(error, scope, receive, send)
            return
        except _ClientGoneError:
            return
        problems = (
            path_problems(scope.get("path", ""))
            + query_problems(scope.get("query_string", b""))
            + _body_problems(headers.get("content-type"), body)
        )
        if problems:
            rejection = ValidationError(details={"errors": [p.as_error() for p in problems]})
            await _answer(rejection, scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_declared_length(self, headers: Headers) -> None:
        declared = headers.getlist("content-length")
        if not declared:
            return
        # Several equal values are one length (RFC 9110 8.6); anything else is not a length.
        values = {part.strip() for value in declared for part in value.split(",")}
        if len(values) != 1 or not (value := values.pop()).isdigit() or not value.isascii():
            raise ClientError("Content-Length must be one non-negative integer")
        if int(value) > self.max_body_bytes:
            raise PayloadTooLargeError(details={"max_bytes": self.max_body_bytes})

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLargeError(details={"max_bytes": self.max_body_bytes})
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _body_problems(content_type: str | None, body: bytes) -> list[Problem]:
    if not body:
        return []
    media_type = _media_type(content_type)
    # Decided as FastAPI decides what to decode as JSON; a missing type may be read as JSON too.
    if media_type is None or media_type.endswith(("/json", "+json")):
        return json_problems(body) or []
    if media_type == "application/x-www-form-urlencoded":
        return form_problems(body)
    if media_type.startswith("multipart/"):
        return []
    if b"\x00" in body:
        return [Problem(("body",), "Body must not contain NUL bytes", "text")]
    return []


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    parsed = EmailMessage()
    parsed["content-type"] = content_type
    return parsed.get_content_type().lower()


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body only a disconnect can come; streaming responses wait for it.
        return await receive()

    return replay


async def _answer(error: UnifyOpsError, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        status_code=error.status_code,
        message=error.message,
        error_type=error.error_type,
        details=error.details,
        # The rest of a refused body is never read, so the connection cannot be reused.
        headers={"Connection": "close"} if error.status_code == 413 else None,
        request=Request(scope),
    )
    await response(scope, receive, send)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "RequestGuardMiddleware"]
