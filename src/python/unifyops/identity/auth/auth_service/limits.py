"""Which counters an attempt is charged to (the policies come from the settings).

Sign-in keys on the *account* and on the *client address* only for devices that never signed in
to that account: a stranger failing on someone's email slows strangers down, never the owner's
known devices, which are charged to their own counter instead. Unknown and registered emails are
keyed alike, so a 429 reveals nothing about which accounts exist.
"""

from __future__ import annotations

import uuid

from unifyops.identity.auth.auth_service.config import Settings
from unifyops.identity.auth.auth_service.throttle import Backoff, Policy, Window

TOO_MANY_LOGINS = "Too many failed sign-in attempts; try again later"
TOO_MANY_REGISTRATIONS = "Too many registrations from this address; try again later"
TOO_MANY_TOKEN_FAILURES = "Too many failed client authentications; try again later"


def _login_backoff(settings: Settings, free: int) -> Backoff:
    return Backoff(
        free=free,
        base=settings.login_backoff_base_seconds,
        cap=settings.login_backoff_cap_seconds,
        memory=settings.login_failure_memory_seconds,
    )


def account_key(email: str) -> str:
    return f"login:account:{email}"


def address_key(address: str) -> str:
    return f"login:address:{address}"


def device_key(device_id: uuid.UUID) -> str:
    return f"login:device:{device_id}"


def login_charges(
    settings: Settings, email: str, address: str, device_id: uuid.UUID | None
) -> dict[str, Policy]:
    if device_id is not None:
        return {
            device_key(device_id): _login_backoff(settings, settings.login_free_failures_per_device)
        }
    return {
        account_key(email): _login_backoff(settings, settings.login_free_failures_per_account),
        address_key(address): _login_backoff(settings, settings.login_free_failures_per_address),
    }


def registration_charges(settings: Settings, address: str) -> dict[str, Policy]:
    window = Window(
        limit=settings.registrations_per_address, seconds=settings.registration_window_seconds
    )
    return {f"register:address:{address}": window}


def token_address_key(address: str) -> str:
    return f"token:address:{address}"


def plausible_client_id(client_id: str) -> bool:
    """Registered ids are at most 64 printable characters (the database refuses NUL bytes)."""
    return len(client_id) <= 64 and client_id.isprintable()


def _client_part(client_id: str) -> str:
    # Implausible ids all fail alike, so they may share one counter.
    return client_id if plausible_client_id(client_id) else "(invalid)"


def token_client_key(client_id: str) -> str:
    return f"token:client:{_client_part(client_id)}"


def token_caller_key(client_id: str, address: str) -> str:
    """Remembers that ``client_id`` obtained a token from ``address`` (see ``token_charges``)."""
    return f"token:caller:{_client_part(client_id)}@{address}"


def token_charges(
    settings: Settings, client_id: str, address: str, known_caller: bool
) -> dict[str, Policy]:
    backoff = _login_backoff(settings, settings.token_free_failures)
    charges: dict[str, Policy] = {token_address_key(address): backoff}
    if not known_caller:
        charges[token_client_key(client_id)] = backoff
    return charges


__all__ = [
    "TOO_MANY_LOGINS",
    "TOO_MANY_REGISTRATIONS",
    "TOO_MANY_TOKEN_FAILURES",
    "account_key",
    "address_key",
    "device_key",
    "login_charges",
    "plausible_client_id",
    "registration_charges",
    "token_address_key",
    "token_caller_key",
    "token_charges",
    "token_client_key",
]
