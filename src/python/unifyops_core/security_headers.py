"""Response headers every UnifyOps API answer carries, errors included.

- ``X-Content-Type-Options: nosniff``: a browser never guesses HTML out of a JSON body.
- ``Cache-Control: no-store`` on answers to requests that carry credentials (an ``Authorization``
  header or a cookie): they hold personal data no shared or browser cache may keep. A route that
  set its own ``Cache-Control`` knows better and keeps it.
- ``Strict-Transport-Security`` when the client reached us over TLS: the scope says ``https``, or
  ``X-Forwarded-Proto`` says so. Its first entry is written by the outermost proxy (the edge or the
  ingress controller, see ``client_address``). A forged value does no harm: browsers ignore HSTS
  received over plain HTTP.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS_VALUE = "max-age=31536000; includeSubDomains"
_CREDENTIAL_HEADERS = ("authorization", "cookie")


def came_over_tls(scope: Scope, headers: Headers) -> bool:
    if scope.get("scheme") == "https":
        return True
    forwarded_proto = headers.get("x-forwarded-proto", "")
    return forwarded_proto.split(",")[0].strip().lower() == "https"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        personal = any(name in request_headers for name in _CREDENTIAL_HEADERS)
        tls = came_over_tls(scope, request_headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if personal:
                    headers.setdefault("Cache-Control", "no-store")
                if tls:
                    headers.setdefault("Strict-Transport-Security", HSTS_VALUE)
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["HSTS_VALUE", "SecurityHeadersMiddleware", "came_over_tls"]
