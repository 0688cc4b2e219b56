"""Public profile endpoints. Updates need ``If-Match`` with the ETag of the version read, so two
editors cannot silently overwrite each other (the loser gets 412 and reloads)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from unifyops.identity.user.user_service.schemas import (
    MAX_VERSION,
    ProfilePage,
    ProfilePublic,
    ProfileUpdate,
)
from unifyops_core.client import IDEMPOTENCY_KEY_HEADER
from unifyops_core.exceptions import (
    PreconditionFailedError,
    PreconditionRequiredError,
    RecordNotFoundError,
    ValidationError,
)
from unifyops_core.security import CurrentUser, require_scopes
from unifyops_core.stack import ServiceDep
from unifyops_core.tokens import Principal

router = APIRouter(prefix="/v1", tags=["profiles"])
ADMIN_SCOPE = "profiles:admin"
_ETAG = re.compile(r'^(?:W/)?"v(\d+)"$')


def etag(version: int) -> str:
    return f'"v{version}"'


def _with_etag(response: Response, profile: ProfilePublic) -> ProfilePublic:
    response.headers["ETag"] = etag(profile.version)
    return profile


def _expected_version(if_match: str | None) -> int:
    if not if_match:
        raise PreconditionRequiredError()
    match = _ETAG.match(if_match.strip())
    if not match:
        raise ValidationError('If-Match must be the ETag of the profile you read, e.g. "v3"')
    digits = match.group(1).lstrip("0")
    # A well-formed ETag of a version no profile can have matches nothing: the precondition
    # fails. Checked on the digits first, as int() refuses very long ones.
    if not digits or len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
        raise PreconditionFailedError()
    return int(digits)


@router.get("/profile")
async def my_profile(user: CurrentUser, service: ServiceDep, response: Response) -> ProfilePublic:
    # Read first: a profile exists after the first visit, so the common case is one SELECT.
    path = f"/internal/profiles/{user.subject}"
    try:
        upstream = await service.get(path)
    except RecordNotFoundError:
        # The first visit creates the profile from what the auth stack put in the token. The
        # service's insert ignores a conflict, so two first visits at once get the same profile.
        body = {"email": user.claims.get("email") or f"{user.subject}@unknown.invalid"}
        upstream = await service.put(path, json=body)
    return _with_etag(response, ProfilePublic.model_validate(upstream.json()))


@router.patch("/profile")
async def update_my_profile(
    changes: ProfileUpdate,
    user: CurrentUser,
    service: ServiceDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_KEY_HEADER)] = None,
) -> ProfilePublic:
    payload: dict[str, Any] = {
        "expected_version": _expected_version(if_match),
        "changes": changes.model_dump(exclude_unset=True),
    }
    # With a key the service stores the first answer, which also makes the call safe to retry.
    headers = {IDEMPOTENCY_KEY_HEADER: idempotency_key} if idempotency_key is not None else None
    upstream = await service.patch(
        f"/internal/profiles/{user.subject}", json=payload, headers=headers
    )
    return _with_etag(response, ProfilePublic.model_validate(upstream.json()))


Admin = Annotated[Principal, Depends(require_scopes(ADMIN_SCOPE))]


@router.get("/profiles")
async def list_profiles(
    _: Admin,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProfilePage:
    upstream = await service.get("/internal/profiles", params={"limit": limit, "offset": offset})
    return ProfilePage.model_validate(upstream.json())


@router.get("/profiles/{subject}")
async def get_profile(
    subject: str, _: Admin, service: ServiceDep, response: Response
) -> ProfilePublic:
    upstream = await service.get(f"/internal/profiles/{subject}")
    return _with_etag(response, ProfilePublic.model_validate(upstream.json()))
