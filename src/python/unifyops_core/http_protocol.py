"""The HTTP/1.1 protocol every tier serves with: uvicorn's httptools protocol, head size bounded.

httptools (llhttp, C) parses a request in a fraction of the CPU h11 (pure Python) needs, but
unlike uvicorn's h11 protocol it puts no bound on the head: llhttp keeps no limit of its own and
httptools accumulates a header value across reads, so a client sending one endless header would
pin memory. This protocol applies the bound h11 applies (``h11_max_incomplete_event_size`` of
the uvicorn config), with h11's semantics: after each socket read, a head still incomplete past
the limit is refused with a plain-text 400 and the connection closed, before the app sees it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TOO_LARGE = "Request head too large."
DEFAULT_MAX_HEAD_BYTES = 16 * 1024


class BoundedHeadHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # h11's own default (what uvicorn's h11 protocol applies when the config names none).
        configured = self.config.h11_max_incomplete_event_size
        self._max_head_bytes = DEFAULT_MAX_HEAD_BYTES if configured is None else configured
        self._in_head = True  # between the end of the previous message and on_headers_complete
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        # A read that starts inside a head and does not finish it is all head, so counting
        # whole reads is exact; bytes after a message's end in the same read (pipelining) start
        # the next head uncounted, an error of at most one read, as with h11.
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._in_head
            and self._head_bytes > self._max_head_bytes
            and not self.transport.is_closing()
        ):
            self.send_400_response(HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()


__all__ = ["HEAD_TOO_LARGE", "BoundedHeadHttpToolsProtocol"]
