"""What other stacks need from auth: the JWKS, and service tokens (client-credentials grant)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Response

from unifyops_core.stack import ServiceDep

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
async def jwks(service: ServiceDep, response: Response) -> dict[str, Any]:
    upstream = await service.get("/internal/jwks")
    # Verifiers cache it; a rotated key is published well before it signs anything.
    response.headers["Cache-Control"] = "public, max-age=60"
    keys: dict[str, Any] = upstream.json()
    return keys


@router.post("/oauth/token")
async def token(
    service: ServiceDep,
    grant_type: Annotated[str, Form()],
    audience: Annotated[str, Form(max_length=64)],
    authorization: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    # The caller's own client credentials are what authenticates this request, so they are
    # relayed as they came and no service token of ours is added.
    upstream = await service.post(
        "/oauth/token",
        data={"grant_type": grant_type, "audience": audience},
        headers={"Authorization": authorization},
        authenticate=False,
    )
    body: dict[str, Any] = upstream.json()
    return body
