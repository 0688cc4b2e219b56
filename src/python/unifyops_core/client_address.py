"""Who a request is really for: the client address vouched for by the nearest proxy.

No UnifyOps tier is reachable by clients directly: the ingress controller (the local edge in
`uo up`) is the only way in, and it replaces any ``X-Forwarded-For`` a client sends with the
address it accepted the connection from. App servers and gateways are reachable only from that
proxy (and gateways from their app), services only from their gateway with a service token — the
NetworkPolicies say so — so every hop may take the last ``X-Forwarded-For`` entry as the client
and pass it on. Without the header (a direct call in a test, a probe) the TCP peer is the client.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.types import Scope

FORWARDED_FOR_HEADER = "X-Forwarded-For"
UNKNOWN = "unknown"


def _valid_address(candidate: str) -> str | None:
    try:
        return str(ipaddress.ip_address(candidate.strip()))
    except ValueError:
        return None


def client_address_of(scope: Scope) -> str:
    """The client address for an ASGI HTTP scope (see the module docstring for the trust rule)."""
    forwarded = Headers(scope=scope).get(FORWARDED_FOR_HEADER, "")
    if forwarded:
        # The nearest proxy appends last; anything before it came from further out.
        address = _valid_address(forwarded.rsplit(",", 1)[-1])
        if address is not None:
            return address
    peer = scope.get("client")
    if peer:
        return _valid_address(str(peer[0])) or UNKNOWN
    return UNKNOWN


__all__ = ["FORWARDED_FOR_HEADER", "UNKNOWN", "client_address_of"]
