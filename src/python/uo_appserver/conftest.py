"""Real servers on loopback: the app server as production builds it, and a fake gateway."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from uo_appserver.server import build_server
from uo_appserver.settings import Settings


@contextmanager
def running(server: uvicorn.Server) -> Iterator[str]:
    """Run ``server`` (configured for 127.0.0.1, port 0) in a thread; yields its base URL."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "server did not start"
        assert time.monotonic() < deadline, "server did not start in time"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _uniform(status: int, message: str, error_type: str) -> dict[str, Any]:
    return {
        "status_code": status,
        "message": message,
        "error_id": f"gw-{status}",
        "error_type": error_type,
        "timestamp": "2024-01-01T00:00:00.000000Z",
    }


class FakeGateway:
    """Stands in for a stack's gateway: records every call, answers like the auth endpoints."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self.answer,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                )
            ]
        )

    async def answer(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.seen.append(
            {
                "method": request.method,
                "target": request.scope["raw_path"].decode()
                + (
                    "?" + request.scope["query_string"].decode()
                    if request.scope["query_string"]
                    else ""
                ),
                "body": body,
                "headers": [(k.lower(), v) for k, v in request.headers.items()],
            }
        )
        if path == "/v1/auth/login":
            payload = await request.json()
            if payload.get("password") != "p":
                return JSONResponse(
                    _uniform(401, "Wrong email or password", "authentication_error"), 401
                )
            return JSONResponse(
                {
                    "access_token": "a1",
                    "refresh_token": "r1",
                    "expires_in": 900,
                    "device_token": "d1",
                }
            )
        if path == "/v1/auth/refresh":
            if (await request.json()).get("refresh_token") != "r1":
                return JSONResponse(_uniform(401, "Session expired", "authentication_error"), 401)
            return JSONResponse(
                {
                    "access_token": "a2",
                    "refresh_token": "r1",
                    "expires_in": 900,
                    "device_token": None,
                }
            )
        if path == "/v1/auth/logout":
            return Response(status_code=204)
        if path == "/v1/limited":
            return JSONResponse(
                _uniform(429, "Too many attempts", "rate_limited"),
                429,
                headers={
                    "Retry-After": "17",
                    "X-Error-ID": "gw-429",
                    "X-RateLimit-Policy": "login",
                },
            )
        if path == "/v1/crash":
            return Response(
                "Traceback: connect to db.internal:5432 failed", 500, media_type="text/plain"
            )
        if path == "/v1/html-404":
            return Response("<html>nginx</html>", 404, media_type="text/html")
        if path == "/v1/sets-cookie":
            # What a misbehaving gateway might answer one user with; no other user may carry it.
            return JSONResponse({"set": True}, headers={"Set-Cookie": "gw_session=alice; Path=/"})
        if path == "/v1/slow":
            await asyncio.sleep(3)
        response = JSONResponse({"method": request.method, "length": len(body)})
        response.raw_headers += [(b"x-multi", b"one"), (b"x-multi", b"two")]
        return response


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets/app-1a2b.js").write_text("console.log('unifyops');\n" * 200)
    (root / "assets/tiny-9f8e.css").write_text("b{}")
    (tmp_path / "secret.txt").write_text("outside the bundle")
    return root


@pytest.fixture
def gateway() -> Iterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    with running(uvicorn.Server(config)) as url:
        yield fake, url


def app_server(bundle: Path, api_url: str, **options: Any) -> uvicorn.Server:
    return build_server(
        Settings(bundle=bundle, api_url=api_url, port=0, **options), host="127.0.0.1"
    )


@pytest.fixture
def app(bundle: Path, gateway: tuple[FakeGateway, str]) -> Iterator[str]:
    with running(app_server(bundle, gateway[1], upstream_timeout_seconds=1.0)) as url:
        yield url
