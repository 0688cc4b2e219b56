"""Which headers cross the app server, in each direction, and the ones it always adds.

Hop-by-hop headers (RFC 9110 §7.6.1, plus any the ``Connection`` header names) describe one
connection and never pass. Towards the gateway the app server also drops what it replaces: the
browser's cookies (only the session cookies' values go on, inside the body), the request id (it
sends the one it logged, see ``relay``) and any client-supplied forwarding headers — contract C1:
it sends ``X-Forwarded-For: <client address>`` computed by ``unifyops_core.client_address``, never
a value the client typed.
"""

from __future__ import annotations

from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    }
)  # fmt: skip
# Recomputed by whoever sends the message next.
FRAMING = frozenset({"host", "content-length", "content-encoding"})
# Replaced towards the gateway; accept-encoding is dropped so answers arrive unencoded and can be
# read (session calls, error bodies) without guessing.
REPLACED_UPSTREAM = frozenset(
    {"cookie", "x-forwarded-for", "x-real-ip", "forwarded", "x-forwarded-proto",
     "x-forwarded-host", "accept-encoding", "x-request-id"}
)  # fmt: skip
# Set by this server's own HTTP layer.
REPLACED_DOWNSTREAM = frozenset({"date", "server"})

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
    "'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def _connection_tokens(pairs: list[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in pairs:
        if name.lower() == "connection":
            tokens.update(token.strip().lower() for token in value.split(","))
    return tokens


def end_to_end(pairs: Iterable[tuple[str, str]], dropped: frozenset[str]) -> list[tuple[str, str]]:
    """``pairs`` without hop-by-hop headers, framing headers and ``dropped``; repeats are kept."""
    listed = list(pairs)
    drop = HOP_BY_HOP | FRAMING | dropped | _connection_tokens(listed)
    return [(name, value) for name, value in listed if name.lower() not in drop]


def towards_gateway(
    pairs: Iterable[tuple[str, str]], client_address: str, secure: bool, request_id: str
) -> list[tuple[str, str]]:
    headers = end_to_end(pairs, REPLACED_UPSTREAM)
    headers.append(("X-Request-ID", request_id))
    headers.append(("X-Forwarded-For", client_address))
    headers.append(("X-Forwarded-Proto", "https" if secure else "http"))
    return headers


def towards_browser(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return end_to_end(pairs, REPLACED_DOWNSTREAM)


__all__ = [
    "HOP_BY_HOP",
    "HSTS",
    "SECURITY_HEADERS",
    "end_to_end",
    "towards_browser",
    "towards_gateway",
]
