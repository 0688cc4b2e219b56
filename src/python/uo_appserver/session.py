"""Session calls: the long-lived credentials live in httpOnly cookies, never in the page.

``uo_refresh``: when a sign-in or refresh answers with a refresh token, the app server moves it
into an httpOnly, SameSite=Strict cookie scoped to ``/api/v1/auth`` and hands the page only the
short-lived access token (kept in memory); a refresh or sign-out without a token in its body gets
the cookie's. Script on the page (an XSS) can use a session while the page is open but cannot
carry the long-lived credential away.

``uo_device`` (contract C2, OWASP "device cookies"): a successful sign-in answers with a
``device_token`` proving this device signed in to that account before; it goes into a year-long
cookie of the same kind, and a later sign-in whose body has no ``device_token`` carries it, so the
auth stack can keep letting the owner's device in while it slows down strangers. Sign-out keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from uo_appserver import bounded_json

REFRESH_COOKIE = "uo_refresh"
DEVICE_COOKIE = "uo_device"
COOKIE_PATH = "/api/v1/auth"
REFRESH_MAX_AGE = 14 * 24 * 3600
DEVICE_MAX_AGE = 365 * 24 * 3600
LOGIN, REFRESH, LOGOUT = "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"
SESSION_CALLS = frozenset({LOGIN, REFRESH, LOGOUT})
# Tokens are JWTs or base64url strings; anything else could smuggle cookie attributes.
_COOKIE_SAFE = re.compile(r"[A-Za-z0-9._~+/=-]{1,4096}")


class UnreadableAnswerError(Exception):
    """The gateway's successful answer to a session call is not the JSON object it should be."""


def is_session_call(method: str, path: str) -> bool:
    return method == "POST" and path in SESSION_CALLS


def cookie(name: str, value: str | None, *, max_age: int, secure: bool) -> str:
    """A ``Set-Cookie`` value; ``value=None`` expires the cookie."""
    attributes = f"Path={COOKIE_PATH}; HttpOnly; SameSite=Strict"
    if secure:
        attributes += "; Secure"
    if value is None:
        return f"{name}=; Max-Age=0; {attributes}"
    return f"{name}={value}; Max-Age={max_age}; {attributes}"


def request_body(path: str, body: bytes, cookies: Mapping[str, str]) -> bytes:
    """The body to send upstream, with the cookie's token where the page sent none.

    A body that is not a JSON object goes on unchanged: the gateway answers it in the uniform
    shape. ``JSONTooDeepError`` propagates (the caller answers 400).
    """
    try:
        payload = bounded_json.loads(body) if body else {}
    except bounded_json.JSONTooDeepError:
        raise
    except ValueError:
        return body
    if not isinstance(payload, dict):
        return body
    if path == LOGIN:
        injected = _inject(payload, "device_token", cookies.get(DEVICE_COOKIE), only_if_absent=True)
    else:
        injected = _inject(payload, "refresh_token", cookies.get(REFRESH_COOKIE))
    if not injected:
        return body
    try:
        return bounded_json.dumps(payload)
    except ValueError:
        return body  # a non-finite number: let the gateway refuse the original


def _inject(
    payload: dict[str, Any], key: str, value: str | None, only_if_absent: bool = False
) -> bool:
    if not value:
        return False
    present = key in payload if only_if_absent else bool(payload.get(key))
    if present:
        return False
    payload[key] = value
    return True


def answer(path: str, status: int, body: bytes, *, secure: bool) -> tuple[bytes, list[str]]:
    """The answer the page sees, without its tokens, and the ``Set-Cookie`` values to send."""
    if path == LOGOUT:
        return body, [cookie(REFRESH_COOKIE, None, max_age=0, secure=secure)]
    if status != 200:
        # A refused refresh means the session is over: forget the cookie too.
        expired = [cookie(REFRESH_COOKIE, None, max_age=0, secure=secure)]
        return body, expired if path == REFRESH else []
    try:
        payload = bounded_json.loads(body)
    except ValueError as exc:
        raise UnreadableAnswerError("the session answer is not JSON") from exc
    if not isinstance(payload, dict):
        raise UnreadableAnswerError("the session answer is not a JSON object")
    cookies: list[str] = []
    refresh_token = payload.pop("refresh_token", None)
    if isinstance(refresh_token, str) and _COOKIE_SAFE.fullmatch(refresh_token):
        cookies.append(
            cookie(REFRESH_COOKIE, refresh_token, max_age=REFRESH_MAX_AGE, secure=secure)
        )
    device_token = payload.pop("device_token", None)  # null on refresh: removed all the same
    if isinstance(device_token, str) and _COOKIE_SAFE.fullmatch(device_token):
        cookies.append(cookie(DEVICE_COOKIE, device_token, max_age=DEVICE_MAX_AGE, secure=secure))
    try:
        return bounded_json.dumps(payload), cookies
    except ValueError as exc:
        raise UnreadableAnswerError("the session answer has a non-finite number") from exc


__all__ = [
    "DEVICE_COOKIE",
    "REFRESH_COOKIE",
    "SESSION_CALLS",
    "UnreadableAnswerError",
    "answer",
    "cookie",
    "is_session_call",
    "request_body",
]
