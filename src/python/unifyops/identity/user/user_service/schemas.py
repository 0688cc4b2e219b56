"""Profile shapes shared by user-service and user-api (ProfileBase/Create/Update/Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator

_TIMEZONES = frozenset(available_timezones())
MAX_PREFERENCES = 50


def _known_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)")
    return value


TimeZone = Annotated[str, AfterValidator(_known_timezone)]
DisplayName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
PreferenceValue = str | int | float | bool | None


class ProfileCreate(BaseModel):
    email: EmailStr
    display_name: DisplayName | None = None


class ProfileUpdate(BaseModel):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    email: EmailStr | None = None
    timezone: TimeZone | None = None
    preferences: dict[str, PreferenceValue] | None = None

    @field_validator("preferences")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            if len(value) > MAX_PREFERENCES:
                raise ValueError(f"at most {MAX_PREFERENCES} preferences")
            if any(
                len(key) > 64 or (isinstance(v, str) and len(v) > 500) for key, v in value.items()
            ):
                raise ValueError("preference keys are at most 64 characters, values at most 500")
        return value


# ``profiles.version`` is a PostgreSQL integer; a larger number can match no row and would make
# the driver fail (int32 overflow) instead of answering.
MAX_VERSION = 2**31 - 1


class ProfileUpdateRequest(BaseModel):
    """What the gateway sends: the update and the version it was made against."""

    expected_version: int = Field(ge=1, le=MAX_VERSION)
    changes: ProfileUpdate


class ProfilePublic(BaseModel):
    subject: str
    email: str
    display_name: str
    timezone: str
    preferences: dict[str, PreferenceValue]
    version: int
    updated_at: datetime


class ProfilePage(BaseModel):
    items: list[ProfilePublic]
    total: int
