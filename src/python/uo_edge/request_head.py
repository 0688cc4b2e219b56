"""Each request head of a connection: read within bounds, checked, and rewritten so that the
upstream learns the client address from the edge and from nobody else.

The checks are the ones where a lenient parser in front of a strict one (or the other way round)
lets a client smuggle a header past the edge: obsolete line folding, whitespace before the colon,
bare CR, control characters, and message framing two parsers could read differently (several
``Content-Length`` values, or ``Content-Length`` with ``Transfer-Encoding``). Anything doubtful is
a 400 rather than a guess. A bare LF is accepted as a line end (RFC 9112 section 2.2 allows it)
and the head is sent on with CRLF only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass

MAX_HEAD_BYTES = 32 * 1024
HEAD_TIMEOUT_SECONDS = 10.0
_READ = 16 * 1024

_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_NAME = re.compile(_TOKEN)
_REQUEST_LINE = re.compile(_TOKEN + rb" [\x21-\x7e]+ HTTP/1\.[01]")
# Field values may hold visible ASCII, SP, HTAB and obs-text; no other control character.
_BAD_VALUE_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# Only the edge may say who the client is and how it connected: a client's own copies are dropped.
VOUCHED = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-proto",
        b"x-real-ip",
    }
)
# The edge names each request (X-Request-ID) so every tier's lines of it can be found together
# (`uo trace`); a client's own id is kept only in the plain shape unifyops_core's middleware trusts.
REQUEST_ID = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._\-]{1,128}")
# Connection management is the edge's, hop by hop: a client's own header never reaches a tier.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
# What the edge writes itself on every forwarded head, never passing the client's on.
_REPLACED = VOUCHED | HOP_BY_HOP | {REQUEST_ID}


class HeadError(Exception):
    """The request head cannot be forwarded; ``status`` is what the client is answered."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _malformed(why: str) -> HeadError:
    return HeadError(400, "bad_request", f"Malformed HTTP request: {why}")


@dataclass(frozen=True)
class RequestHead:
    request_line: bytes
    fields: tuple[tuple[bytes, bytes], ...]
    # Bytes that arrived after the head in the same reads: the start of the body.
    rest: bytes = b""

    @property
    def method(self) -> str:
        return self.request_line.split(b" ", 1)[0].decode("ascii")

    @property
    def path(self) -> str:
        """The target without its query (which may carry a token): what the access line names."""
        target = self.request_line.split(b" ")[1]
        return target.split(b"?", 1)[0].decode("ascii")

    @property
    def request_id(self) -> str | None:
        """The client's X-Request-ID, when there is exactly one in the trusted shape."""
        values = [value for name, value in self.fields if name.lower() == REQUEST_ID]
        if len(values) == 1 and _VALID_REQUEST_ID.fullmatch(values[0]):
            return values[0].decode("ascii")
        return None

    def forwarded(self, client_ip: str, request_id: str, *, close: bool = True) -> bytes:
        """The head as the upstream gets it: vouched for by the edge; with ``close``, the upstream
        is asked to answer this one request only (the edge's one-shot path)."""
        kept = [
            name + b": " + value for name, value in self.fields if name.lower() not in _REPLACED
        ]
        added = [
            b"X-Forwarded-For: " + client_ip.encode("ascii"),
            b"X-Forwarded-Proto: http",
            b"X-Request-ID: " + request_id.encode("ascii"),
        ]
        if close:
            added.append(b"Connection: close")
        return b"\r\n".join([self.request_line, *kept, *added]) + b"\r\n\r\n"


def parse_head(head: bytes, rest: bytes = b"") -> RequestHead:
    """Parse a head without its final empty line; raises ``HeadError`` (400) when malformed."""
    lines = [line.removesuffix(b"\r") for line in head.split(b"\n")]
    if any(b"\r" in line for line in lines):
        raise _malformed("bare CR")
    request_line, *field_lines = lines
    if not _REQUEST_LINE.fullmatch(request_line):
        raise _malformed("bad request line")
    fields = []
    for line in field_lines:
        if line[:1] in (b" ", b"\t"):
            raise _malformed("obsolete line folding")
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise _malformed("bad header line")
        value = value.strip(b" \t")
        if _BAD_VALUE_BYTE.search(value):
            raise _malformed("control character in a header value")
        fields.append((name, value))
    _check_framing(fields)
    return RequestHead(request_line, tuple(fields), rest)


def _check_framing(fields: list[tuple[bytes, bytes]]) -> None:
    lengths = {value for name, value in fields if name.lower() == b"content-length"}
    chunked = any(name.lower() == b"transfer-encoding" for name, _ in fields)
    if len(lengths) > 1 or not all(value.isdigit() for value in lengths):
        raise _malformed("bad Content-Length")
    if lengths and chunked:
        raise _malformed("both Content-Length and Transfer-Encoding")


async def read_head(
    reader: asyncio.StreamReader, buffered: bytes = b"", *, idle_seconds: float | None = None
) -> RequestHead | None:
    """Read and parse a request head, starting with ``buffered`` (bytes read past the previous
    request on a kept-alive connection); ``None`` when the client sent nothing at all (a TCP
    readiness probe, or a kept-alive client leaving) or, with ``idle_seconds``, nothing for that
    long. Raises ``HeadError``: 431 past ``MAX_HEAD_BYTES``, 408 when the head is not complete
    within ``HEAD_TIMEOUT_SECONDS`` of its first byte (a slow client must not hold a connection),
    400 when the client stops before the head is complete or the head is malformed."""
    # Empty lines before the request line are to be ignored (RFC 9112 section 2.2).
    buffer = buffered.lstrip(b"\r\n")
    received = len(buffered)
    if not buffer and idle_seconds is not None:
        try:
            async with asyncio.timeout(idle_seconds):
                first = await reader.read(_READ)
        except TimeoutError:
            return None
        if not first:
            return None
        buffer, received = first.lstrip(b"\r\n"), len(first)
    searched = 0
    try:
        async with asyncio.timeout(HEAD_TIMEOUT_SECONDS):
            while True:
                end = _END_OF_HEAD.search(buffer, max(0, searched - 3))
                if end is not None and end.end() <= MAX_HEAD_BYTES:
                    return parse_head(buffer[: end.start()], buffer[end.end() :])
                if received > MAX_HEAD_BYTES:
                    raise HeadError(431, "request_headers_too_large", "Request headers too large")
                searched = len(buffer)
                chunk = await reader.read(_READ)
                if not chunk:
                    if received:
                        raise _malformed("incomplete request head")
                    return None
                received += len(chunk)
                buffer = (buffer + chunk) if buffer else chunk.lstrip(b"\r\n")
    except TimeoutError:
        raise HeadError(408, "request_timeout", "The request head did not arrive in time") from None


def client_ip(peername: object) -> str | None:
    """The address the connection was accepted from, normalised; None if it is not an IP."""
    if not isinstance(peername, tuple) or not peername:
        return None
    try:
        return str(ipaddress.ip_address(str(peername[0]).partition("%")[0]))
    except ValueError:
        return None


__all__ = [
    "HEAD_TIMEOUT_SECONDS",
    "HOP_BY_HOP",
    "MAX_HEAD_BYTES",
    "VOUCHED",
    "HeadError",
    "RequestHead",
    "client_ip",
    "parse_head",
    "read_head",
]
