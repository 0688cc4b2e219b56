"""Malformed HTTP answered in the uniform error shape, at the protocol level.

A garbage request line, ``Content-Length: abc`` or ``-1``, or a header block over the limit never
reaches the application: h11 refuses to parse it and uvicorn answers ``400 Invalid HTTP request
received.`` in plain text, then closes the connection. This protocol class (uvicorn accepts one in
``Config(http=...)``) keeps that behaviour — an immediate answer, then close — but with the
uniform JSON body and the status h11 suggests (431 for headers too large, 501 for an unsupported
Transfer-Encoding). It relies on uvicorn calling ``send_400_response`` from inside its
``except h11.RemoteProtocolError`` block, which is how the status hint is recovered; the tests
exercise it with raw sockets, so an upgrade that changes this fails loudly.
"""

from __future__ import annotations

import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from uo_appserver.errors import error_bytes
from uo_appserver.headers import SECURITY_HEADERS

_MESSAGES = {
    400: "The request is not valid HTTP",
    431: "The request headers are too large",
    501: "The request's transfer encoding is not supported",
}


# After answering, the rest of a bad request is read and dropped this long before closing:
# closing a socket with unread input makes the kernel send a reset, which can destroy the answer
# before the client reads it (a "lingering close", as nginx does).
LINGER_SECONDS = 1.0


class UniformH11Protocol(H11Protocol):
    _lingering = False

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a request already refused
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        problem = sys.exc_info()[1]
        hint = getattr(problem, "error_status_hint", 400)
        status = hint if hint in _MESSAGES else 400
        body, error_id = error_bytes(status, _MESSAGES[status])
        headers = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-error-id", error_id.encode()),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]
        try:
            for event in (
                h11.Response(status_code=status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:
            self.transport.close()  # a response had already started: closing is all that is left
            return
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self._lingering = True
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


__all__ = ["LINGER_SECONDS", "UniformH11Protocol"]
