"""Request context middleware: a request id on every log line and response, the client address
the request is for (``client_address``), one access line per request, and a uniform 500 for
anything that escapes the exception handlers.

Pure ASGI rather than BaseHTTPMiddleware, so streaming responses and contextvars behave.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unifyops_core.client_address import client_address_of
from unifyops_core.context import (
    reset_client_address,
    reset_request_id,
    set_client_address,
    set_request_id,
)
from unifyops_core.error_responses import unexpected_error_response
from unifyops_core.logs import access_line

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is trusted only in a plain shape, so it cannot smuggle text into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


def incoming_request_id(headers: Headers) -> str:
    candidate = headers.get(REQUEST_ID_HEADER, "")
    return candidate if _VALID_REQUEST_ID.match(candidate) else str(uuid.uuid4())


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(Headers(scope=scope))
        token = set_request_id(request_id)
        client_token = set_client_address(client_address_of(scope))
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            if response_started:
                raise
            await unexpected_error_response(None, exc)(scope, receive, send_with_request_id)
        finally:
            # Written while the request id is still the context's: every line takes it from
            # there (logs reads it), so no loguru contextualize is needed.
            try:
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                access_line(scope.get("method", ""), scope.get("path", ""), status, duration_ms)
            finally:
                reset_client_address(client_token)
                reset_request_id(token)


__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware", "incoming_request_id"]
