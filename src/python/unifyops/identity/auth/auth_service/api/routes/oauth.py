"""OAuth 2 client-credentials grant: the one route not guarded by a service token, because this
is where callers get one (they authenticate with their client credentials instead)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Header, Request

from unifyops.identity.auth.auth_service.api.deps import IssuerDep, SettingsDep
from unifyops.identity.auth.auth_service.clients import grant_service_token
from unifyops.identity.auth.auth_service.schemas import ServiceToken
from unifyops_core.client_address import client_address_of
from unifyops_core.exceptions import AuthenticationError, ValidationError
from unifyops_core.stack import SessionDep

router = APIRouter(tags=["oauth"])


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    try:
        client_id, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("Client credentials are required (HTTP Basic)") from exc
    if scheme.lower() != "basic" or not sep:
        raise AuthenticationError("Client credentials are required (HTTP Basic)")
    return client_id, secret


@router.post("/oauth/token")
async def token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    issuer: IssuerDep,
    grant_type: Annotated[str, Form()],
    audience: Annotated[str, Form(max_length=64)],
    authorization: Annotated[str, Header()] = "",
) -> ServiceToken:
    if grant_type != "client_credentials":
        raise ValidationError("Only the client_credentials grant is supported")
    client_id, secret = _basic_credentials(authorization)
    # Callers come through auth-api (which forwards their address) or, for auth-api's own
    # tokens, directly (the peer address).
    address = client_address_of(request.scope)
    return await grant_service_token(
        session, settings, issuer, client_id, secret, audience, address=address
    )
