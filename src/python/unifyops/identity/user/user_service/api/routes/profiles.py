"""Profiles (called by user-api only); the subject comes from the gateway's verified user token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from unifyops.identity.user.user_service import profiles
from unifyops.identity.user.user_service.schemas import (
    ProfileCreate,
    ProfilePage,
    ProfilePublic,
    ProfileUpdateRequest,
)
from unifyops_core.stack import ReadSessionDep, SessionDep

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
async def get_profile(subject: str, session: ReadSessionDep) -> ProfilePublic:
    # One SELECT, so no transaction around it (the gateway's GET /v1/profile lands here).
    return profiles.public(await profiles.get(session, subject))


@router.put("/{subject}")
async def ensure_profile(subject: str, body: ProfileCreate, session: SessionDep) -> ProfilePublic:
    return profiles.public(await profiles.ensure(session, subject, body))


@router.patch("/{subject}")
async def update_profile(
    subject: str, body: ProfileUpdateRequest, session: SessionDep
) -> ProfilePublic:
    return profiles.public(
        await profiles.apply_update(session, subject, body.expected_version, body.changes)
    )
