"""An httpx client for a process that calls on behalf of many users: it keeps no cookies.

httpx's client keeps every ``Set-Cookie`` it is answered with and sends it with every later
request to that host. A tier's client is shared by all the requests it serves, so a cookie the
target set while serving one user would ride along with the next user's call. Nothing in a call
between tiers is carried by cookies (identities travel as tokens in ``Authorization``), so the
jar stays empty: a ``Set-Cookie`` still reaches the caller in the response, it is only not
remembered. Not parsing it also saves ~5 % of a gateway's CPU (httpx builds urllib request and
response objects for its jar on every answer).
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx

_REFUSED = "a shared client keeps no cookies: send them in the request's headers"


class _JarNeverKept(CookieJar):
    def set_cookie(self, cookie: Cookie) -> None:
        return None

    def set_cookie_if_ok(self, cookie: Cookie, request: Any) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class _CookiesNeverKept(httpx.Cookies):
    def __init__(self) -> None:
        self._jar = _JarNeverKept()

    @property
    def jar(self) -> CookieJar:
        return self._jar

    @jar.setter
    def jar(self, jar: Any) -> None:
        raise TypeError(_REFUSED)

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise TypeError(_REFUSED)

    def update(self, cookies: Any = None) -> None:  # type: ignore[override]
        if cookies:
            raise TypeError(_REFUSED)


class SharedAsyncClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` with a cookie jar that never keeps anything (see the module)."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("cookies"):
            raise TypeError(_REFUSED)
        super().__init__(**kwargs)
        self._never_kept = _CookiesNeverKept()

    # Overrides httpx's property: every read (the one that stores an answer's cookies, the one
    # that merges them into a request) meets the empty jar.
    @property
    def cookies(self) -> httpx.Cookies:
        return self._never_kept

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise TypeError(_REFUSED)


__all__ = ["SharedAsyncClient"]
