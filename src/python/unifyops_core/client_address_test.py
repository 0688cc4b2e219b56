from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from unifyops_core.client import ServiceClient
from unifyops_core.client_address import client_address_of
from unifyops_core.context import current_client_address
from unifyops_core.middleware import RequestContextMiddleware


def scope(headers: dict[str, str], peer: str | None = "10.0.0.7") -> dict[str, object]:
    return {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (peer, 5123) if peer else None,
    }


def test_without_a_forwarded_header_the_peer_is_the_client() -> None:
    assert client_address_of(scope({})) == "10.0.0.7"


def test_the_nearest_proxys_entry_wins_over_what_the_client_claimed() -> None:
    claimed = scope({"X-Forwarded-For": "1.2.3.4, 198.51.100.9"})
    assert client_address_of(claimed) == "198.51.100.9"


@pytest.mark.parametrize("junk", ["not-an-ip", "1.2.3.4\r\nX: y", "", " , "])
def test_junk_in_the_header_falls_back_to_the_peer(junk: str) -> None:
    assert client_address_of(scope({"X-Forwarded-For": junk})) == "10.0.0.7"


def test_no_peer_and_no_header_is_unknown() -> None:
    assert client_address_of(scope({}, peer=None)) == "unknown"


async def test_the_client_address_travels_to_the_next_hop() -> None:
    """A gateway-like app calls a service-like app with the core client: the service sees the
    original client, not the gateway, as the client address."""
    service = FastAPI()

    @service.get("/seen")
    async def seen(request: Request) -> dict[str, str | None]:
        return {"client": client_address_of(request.scope)}

    service.add_middleware(RequestContextMiddleware)
    gateway = FastAPI()

    @gateway.get("/relay")
    async def relay() -> dict[str, object]:
        async with ServiceClient(
            "http://service", service="svc", transport=httpx.ASGITransport(app=service)
        ) as client:
            answer = (await client.get("/seen")).json()
        return {"gateway_saw": current_client_address(), **answer}

    gateway.add_middleware(RequestContextMiddleware)
    transport = httpx.ASGITransport(app=gateway, client=("203.0.113.5", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        body = (await http.get("/relay")).json()
    assert body == {"gateway_saw": "203.0.113.5", "client": "203.0.113.5"}
