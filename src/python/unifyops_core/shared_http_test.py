"""A shared client never remembers a cookie: against a real uvicorn server on loopback."""

from http.cookiejar import CookieJar

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from unifyops_core.client import ServiceClient
from unifyops_core.session_relay import SessionRelay
from unifyops_core.shared_http import SharedAsyncClient
from unifyops_core.testing_db import serve_on_loopback


def _cookie_setting_app() -> FastAPI:
    app = FastAPI()

    @app.get("/sets-cookie")
    async def sets_cookie(response: Response) -> dict[str, bool]:
        response.set_cookie("session", "alice-secret")
        return {"set": True}

    @app.get("/echo-cookie")
    async def echo_cookie(request: Request) -> dict[str, str | None]:
        return {"cookie": request.headers.get("cookie")}

    return app


async def test_a_cookie_set_while_serving_one_user_is_not_sent_for_the_next() -> None:
    with serve_on_loopback(_cookie_setting_app()) as url:
        async with ServiceClient(url, service="peer", max_retries=0) as client:
            first = await client.get("/sets-cookie")
            # The caller still sees what the target answered; only the client does not keep it.
            assert "alice-secret" in first.headers["set-cookie"]
            assert (await client.get("/echo-cookie")).json() == {"cookie": None}
        async with SharedAsyncClient(base_url=url) as http:
            await http.get("/sets-cookie")
            assert (await http.get("/echo-cookie")).json() == {"cookie": None}
            assert not http.cookies
        # A plain httpx client would have sent it: what the test guards against is real.
        async with httpx.AsyncClient(base_url=url) as plain:
            await plain.get("/sets-cookie")
            assert (await plain.get("/echo-cookie")).json() == {"cookie": "session=alice-secret"}


async def test_the_session_relay_keeps_no_cookie_either() -> None:
    relay = SessionRelay("http://127.0.0.1:1")
    assert isinstance(relay._http, SharedAsyncClient)
    await relay._http.aclose()


async def test_cookies_cannot_be_given_to_a_shared_client() -> None:
    with pytest.raises(TypeError, match="keeps no cookies"):
        SharedAsyncClient(cookies={"session": "x"})
    async with SharedAsyncClient() as http:
        with pytest.raises(TypeError, match="keeps no cookies"):
            http.cookies = {"session": "x"}
        with pytest.raises(TypeError, match="keeps no cookies"):
            http.cookies.set("session", "x")
        with pytest.raises(TypeError, match="keeps no cookies"):
            http.cookies.update({"session": "x"})


async def test_cookies_put_in_the_jar_itself_are_not_kept_either() -> None:
    with serve_on_loopback(_cookie_setting_app()) as url:
        async with SharedAsyncClient(base_url=url) as http:
            first = await http.get("/sets-cookie")
            for cookie in first.cookies.jar:
                http.cookies.jar.set_cookie(cookie)
            assert (await http.get("/echo-cookie")).json() == {"cookie": None}
            with pytest.raises(TypeError, match="keeps no cookies"):
                http.cookies.jar = CookieJar()
