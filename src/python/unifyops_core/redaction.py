"""Redaction of secrets before anything is written to a log.

Two nets, because secrets arrive both as structured fields and inside free text:
- by key: a mapping value whose key names a secret (password, token, cookie, DSN...) is replaced,
  at any depth, whatever its type;
- by pattern: inside every string, credentials in known shapes (Bearer/Basic headers, JWTs,
  passwords in URLs and DSNs, token-like query parameters, ``password=...`` pairs) are replaced.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

# Substrings of normalised key names (lowercase, separators removed) that mark a secret.
_SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
    "dsn",
    "credential",
    "sessionid",
    "signature",
)

_SEPARATORS = re.compile(r"[\s_\-.]")

_CREDENTIAL_PARAMS = (
    r"access_token|refresh_token|id_token|token|api_key|apikey|key|password|passwd|secret|"
    r"client_secret|signature|sig|code|auth"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values (a credential is at least 8 characters, so prose survives).
    (re.compile(r"\b((?i:bearer|basic)|Token)\s+[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1 {REDACTED}"),
    # JSON Web Tokens anywhere (three base64url segments, the first one a JSON header).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # user:password@ in URLs and DSNs (postgresql+asyncpg://user:pw@host/db).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*):[^\s@/]*@"), rf"\1:{REDACTED}@"),
    # Token-like query parameters.
    (re.compile(rf"(?i)([?&;](?:{_CREDENTIAL_PARAMS})=)[^&#\s]*"), rf"\1{REDACTED}"),
    # password=..., "secret": "...", api_key: ... in free text.
    (
        re.compile(
            r"(?i)(\b[\w\-]*(?:password|passwd|secret|token|api[_\-]?key|private[_\-]?key)[\w\-]*"
            r"[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}\]]+)"
        ),
        rf"\1{REDACTED}",
    ),
)


# Every pattern above needs one of these to match: "=" or "@" (query parameters, URL passwords,
# key=value pairs), "eyJ" (a JWT), or a credential word (an Authorization scheme, or a key name
# followed by ":"). Most log strings (paths, timestamps, host names, messages) contain none, so
# one scan of this replaces five. Keep it in step with _PATTERNS: redaction_test checks it.
_CANDIDATE = re.compile(
    r"[=@]|eyJ|(?i:bearer|basic|token|passw|secret|api[_\-]?key|private[_\-]?key)"
)


@functools.lru_cache(maxsize=1024)
def _is_sensitive_name(key: str) -> bool:
    normalised = _SEPARATORS.sub("", key.lower())
    return any(part in normalised for part in _SENSITIVE_KEY_PARTS)


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key names a secret (case- and separator-insensitive).

    Cached (bounded): log records use the same few dozen keys over and over.
    """
    return isinstance(key, str) and _is_sensitive_name(key)


def redact_text(text: str) -> str:
    """Replace credentials found inside a string."""
    if _CANDIDATE.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced, by key at any depth and by pattern in strings."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_sensitive_key(key) else redact(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", errors="replace"))
    return value


__all__ = ["REDACTED", "is_sensitive_key", "redact", "redact_text"]
