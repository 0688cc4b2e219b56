"""Where one HTTP/1.1 message ends, so that the edge can keep connections open on both sides.

A request is kept on a kept-alive client connection only when its framing is unambiguous to any
parser: HTTP/1.1, a body given by one ``Content-Length`` (or none), no ``Transfer-Encoding``, no
``Upgrade``, no ``Expect``, no ``Connection: close``. Anything else takes the edge's one-shot path
(the upstream is told to close, bytes are relayed until it does, the client connection closes),
so a second request can never hide in bytes the edge did not frame itself.

An answer is framed as RFC 9112 section 6.3 says: none after ``HEAD``, 1xx, 204 and 304; chunked;
``Content-Length``; else it ends when the upstream closes (and then the client connection closes
too). Heads are bounded; an upstream that breaks framing is dropped, never reused.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

from uo_edge.request_head import RequestHead

_CHUNK = 64 * 1024
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: [^\r\n]*)?")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?\r\n")
# Hop-by-hop: about the upstream connection, not the client's; the edge says its own.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection"})


class UpstreamFramingError(Exception):
    """The upstream's answer cannot be framed: it is dropped, and the client connection too."""


def keeps_alive(head: RequestHead) -> bool:
    """Whether the edge may frame this request itself and read another from the connection."""
    if not head.request_line.endswith(b" HTTP/1.1") or head.method == "CONNECT":
        return False
    for name, value in head.fields:
        lowered = name.lower()
        if lowered in (b"transfer-encoding", b"upgrade", b"expect"):
            return False
        if lowered == b"connection" and any(
            token.strip().lower() in (b"close", b"upgrade") for token in value.split(b",")
        ):
            return False
    return True


def body_length(head: RequestHead) -> int:
    """The request body's length (request_head already refused several or non-numeric ones)."""
    for name, value in head.fields:
        if name.lower() == b"content-length":
            return int(value)
    return 0


@dataclass(frozen=True)
class ResponseHead:
    status: int
    http10: bool
    status_line: bytes
    fields: tuple[tuple[bytes, bytes], ...]

    def value(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.fields if n.lower() == name]
        return values[-1] if values else None

    @property
    def upstream_keeps_alive(self) -> bool:
        connection = (self.value(b"connection") or b"").lower()
        if self.http10:
            return b"keep-alive" in connection
        return b"close" not in connection

    def for_client(self, *, close: bool) -> bytes:
        dropped = _HOP_BY_HOP
        if self.value(b"transfer-encoding") is not None:
            dropped = dropped | {b"content-length"}  # framed by the chunks: one framing only
        kept = [n + b": " + v for n, v in self.fields if n.lower() not in dropped]
        if close:
            kept.append(b"Connection: close")
        return b"\r\n".join([self.status_line, *kept]) + b"\r\n\r\n"


async def read_response_head(reader: asyncio.StreamReader) -> ResponseHead | None:
    """The answer's head, or None when the upstream closed before a byte. Raises
    UpstreamFramingError, also for a head past the stream's limit (asyncio's 64 KiB)."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise UpstreamFramingError("the answer's head was cut short") from None
    except asyncio.LimitOverrunError:
        raise UpstreamFramingError("the answer's head is too large") from None
    lines = raw[:-4].split(b"\r\n")
    status_line = _STATUS_LINE.fullmatch(lines[0])
    if status_line is None:
        raise UpstreamFramingError("not an HTTP/1.x status line")
    fields = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise UpstreamFramingError("bad header line in the answer")
        fields.append((name, value.strip(b" \t")))
    head = ResponseHead(
        int(status_line.group(2)), status_line.group(1) == b"0", lines[0], tuple(fields)
    )
    lengths = {v for n, v in head.fields if n.lower() == b"content-length"}
    if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
        raise UpstreamFramingError("bad Content-Length in the answer")
    return head


def delimited(head: ResponseHead, method: str) -> bool:
    """Whether the answer's end is known without the upstream closing."""
    if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        return True
    encoding = head.value(b"transfer-encoding")
    if encoding is not None:
        return encoding.lower().rsplit(b",", 1)[-1].strip() == b"chunked"
    return head.value(b"content-length") is not None


# Called after each piece of a body is passed on (and drained): a relay's sign of life.
Progress = Callable[[], None]


def _nothing() -> None:
    return None


async def relay_body(
    head: ResponseHead,
    method: str,
    upstream: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    progress: Progress = _nothing,
) -> None:
    """Relay the answer's body as framed by ``delimited`` (until the upstream closes when it is
    not), calling ``progress`` after each piece. Raises UpstreamFramingError on bad chunks or an
    early close."""
    if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        return
    if head.value(b"transfer-encoding") is not None:
        if delimited(head, method):
            await _relay_chunked(upstream, client, progress)
        else:
            await relay_to_end(upstream, client, progress)
        return
    length = head.value(b"content-length")
    if length is None:
        await relay_to_end(upstream, client, progress)
        return
    await relay_exactly(int(length), upstream, client, progress)


async def relay_exactly(
    count: int,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    progress: Progress = _nothing,
) -> None:
    """Copy exactly ``count`` bytes (a request body, a chunk)."""
    while count > 0:
        data = await reader.read(min(count, _CHUNK))
        if not data:
            raise UpstreamFramingError("closed before the end of the body")
        count -= len(data)
        writer.write(data)
        await writer.drain()
        progress()


async def _relay_chunked(
    upstream: asyncio.StreamReader, client: asyncio.StreamWriter, progress: Progress
) -> None:
    try:
        while True:
            line = await upstream.readuntil(b"\r\n")
            size = _CHUNK_SIZE.fullmatch(line)
            if size is None:
                raise UpstreamFramingError("bad chunk size line")
            client.write(line)
            progress()
            count = int(size.group(1), 16)
            if count == 0:
                while (trailer := await upstream.readuntil(b"\r\n")) != b"\r\n":
                    client.write(trailer)
                    progress()
                client.write(trailer)
                await client.drain()
                return
            await relay_exactly(count, upstream, client, progress)
            if await upstream.readexactly(2) != b"\r\n":
                raise UpstreamFramingError("a chunk does not end with CRLF")
            client.write(b"\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise UpstreamFramingError("bad or cut chunked body") from None


async def relay_to_end(
    upstream: asyncio.StreamReader, client: asyncio.StreamWriter, progress: Progress = _nothing
) -> None:
    """Copy until the upstream closes (an answer framed by its end)."""
    while data := await upstream.read(_CHUNK):
        client.write(data)
        await client.drain()
        progress()


__all__ = [
    "Progress",
    "ResponseHead",
    "UpstreamFramingError",
    "body_length",
    "delimited",
    "keeps_alive",
    "read_response_head",
    "relay_body",
    "relay_exactly",
    "relay_to_end",
]
