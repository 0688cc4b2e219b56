"""Fresh values for the Secrets the chart references, by what each key means: `uo up` generates
them for a machine, `uo seal` for a cluster (sealed), with the same rules."""

from __future__ import annotations

import base64
import secrets

# Keys whose value is a name, not a secret: the database role and database are the stack's.
NAME_KEYS = frozenset({"username", "database"})
# Fernet keys (urlsafe base64 of 32 bytes): the auth service's key-encryption key.
FERNET_KEYS = frozenset({"key"})


def generate(stack: str, secret: str, key: str) -> str:
    """A value for ``key`` of Secret ``secret`` referenced by ``stack``'s release."""
    if key in NAME_KEYS:
        return stack
    if key in FERNET_KEYS:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


__all__ = ["generate"]
