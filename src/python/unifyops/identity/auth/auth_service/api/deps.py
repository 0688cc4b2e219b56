"""Dependencies of auth-service routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from unifyops.identity.auth.auth_service.config import Settings
from unifyops.identity.auth.auth_service.issuance import Issuer
from unifyops.identity.auth.auth_service.signing import KeyStore


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _issuer(request: Request) -> Issuer:
    issuer: Issuer = request.app.state.issuer
    return issuer


def _keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.keys
    return keys


SettingsDep = Annotated[Settings, Depends(_settings)]
IssuerDep = Annotated[Issuer, Depends(_issuer)]
KeysDep = Annotated[KeyStore, Depends(_keys)]
