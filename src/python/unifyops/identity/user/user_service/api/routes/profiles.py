"""Profiles (called by user-api only); the subject comes from the gateway's verified user token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from unifyops.identity.user.user_service import profiles
from unifyops.identity.user.user_service.models import idempotency_keys
from unifyops.identity.user.user_service.schemas import (
    ProfileCreate,
    ProfilePage,
    ProfilePublic,
    ProfileUpdateRequest,
)
from unifyops_core import idempotency
from unifyops_core.client import IDEMPOTENCY_KEY_HEADER
from unifyops_core.stack import SessionDep, database_of

router = APIRouter(prefix="/internal/profiles", tags=["profiles"])
Subject = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("")
async def list_profiles(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProfilePage:
    rows, total = await profiles.page(session, limit, offset)
    return ProfilePage(items=[profiles.public(row) for row in rows], total=total)


@router.get("/{subject}")
async def get_profile(subject: str, request: Request) -> ProfilePublic:
    # The gateway's GET /v1/profile lands here: one SELECT straight on the driver, no
    # transaction around it, a row rather than ORM objects, no dependency to solve.
    return await profiles.read(database_of(request), subject)


@router.put("/{subject}")
async def ensure_profile(subject: str, body: ProfileCreate, session: SessionDep) -> ProfilePublic:
    return profiles.public(await profiles.ensure(session, subject, body))


@router.patch("/{subject}")
async def update_profile(
    subject: str,
    body: ProfileUpdateRequest,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_KEY_HEADER)] = None,
) -> ProfilePublic:
    # A repeat of an update already applied (a client retry after a timeout) gets the first
    # answer; the key is stored in the update's own transaction (unifyops_core.idempotency).
    scope = f"profile-update:{subject}"
    if idempotency_key is not None:
        request = body.model_dump(mode="json", exclude_unset=True)
        stored = await idempotency.reserve(
            session, idempotency_keys, scope=scope, key=idempotency_key, request=request
        )
        if stored is not None:
            return ProfilePublic.model_validate(stored)
    updated = profiles.public(
        await profiles.apply_update(session, subject, body.expected_version, body.changes)
    )
    if idempotency_key is not None:
        await idempotency.record(
            session,
            idempotency_keys,
            scope=scope,
            key=idempotency_key,
            response=updated.model_dump(mode="json"),
        )
    await session.commit()
    return updated
