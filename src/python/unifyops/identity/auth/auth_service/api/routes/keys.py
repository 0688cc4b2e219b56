"""Signing keys (called by auth-api only): the JWKS it publishes, and rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from unifyops.identity.auth.auth_service.api.deps import KeysDep

router = APIRouter(prefix="/internal", tags=["keys"])


@router.get("/jwks")
async def jwks(keys: KeysDep) -> dict[str, list[dict[str, Any]]]:
    return await keys.jwks()


@router.post("/keys/rotate")
async def rotate(keys: KeysDep) -> dict[str, str]:
    return {"kid": await keys.rotate()}
