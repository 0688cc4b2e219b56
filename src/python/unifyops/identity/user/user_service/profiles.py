"""Profile operations; every update is conditional on the version the caller read."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.user.user_service.models import Profile
from unifyops.identity.user.user_service.schemas import ProfileCreate, ProfilePublic, ProfileUpdate
from unifyops_core.db import Database
from unifyops_core.exceptions import PreconditionFailedError, RecordNotFoundError


def public(profile: Profile) -> ProfilePublic:
    return ProfilePublic.model_validate(profile, from_attributes=True)


async def get(session: AsyncSession, subject: str) -> Profile:
    profile = await session.get(Profile, subject)
    if profile is None:
        raise RecordNotFoundError("Profile not found", details={"subject": subject})
    return profile


# The columns ProfilePublic shows, for reads that answer without loading ORM objects.
_PUBLIC = select(*(Profile.__table__.c[name] for name in ProfilePublic.model_fields)).where(
    Profile.subject == bindparam("subject")
)


async def read(database: Database, subject: str) -> ProfilePublic:
    """The subject's profile as the API shows it, straight from the driver (the gateway's hot
    path: ``Database.fetch_row``)."""
    row = await database.fetch_row(_PUBLIC, {"subject": subject})
    if row is None:
        raise RecordNotFoundError("Profile not found", details={"subject": subject})
    return ProfilePublic.model_validate(row)


async def ensure(session: AsyncSession, subject: str, data: ProfileCreate) -> Profile:
    """The subject's profile, created on first use (safe when two requests race)."""
    display_name = data.display_name or data.email.split("@", 1)[0]
    await session.execute(
        insert(Profile)
        .values(
            subject=subject,
            email=data.email,
            display_name=display_name,
            timezone="UTC",
            preferences={},
            version=1,
        )
        .on_conflict_do_nothing(index_elements=[Profile.subject])
    )
    await session.commit()
    return await get(session, subject)


async def apply_update(
    session: AsyncSession, subject: str, expected_version: int, changes: ProfileUpdate
) -> Profile:
    values = changes.model_dump(exclude_unset=True)
    statement = (
        update(Profile)
        .where(Profile.subject == subject, Profile.version == expected_version)
        .values(**values, version=Profile.version + 1, updated_at=func.now())
        .returning(Profile)
    )
    updated = (await session.scalars(statement)).first()
    if updated is None:
        current = await get(session, subject)  # 404 when it does not exist at all
        raise PreconditionFailedError(
            "The profile was changed by someone else; reload it and apply your change again",
            details={"expected_version": expected_version, "current_version": current.version},
        )
    # Not committed here: the route commits, together with the update's idempotency key.
    return updated


async def page(session: AsyncSession, limit: int, offset: int) -> tuple[list[Profile], int]:
    total = await session.scalar(select(func.count()).select_from(Profile)) or 0
    rows = await session.scalars(
        select(Profile).order_by(Profile.created_at, Profile.subject).limit(limit).offset(offset)
    )
    return list(rows), total
