"""The app server over real sockets: the bundle, the /api forwarding, and the session cookie."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from uo_appserver.server import COOKIE, serve


class FakeGateway(BaseHTTPRequestHandler):
    """Stands in for a stack's gateway: records calls, answers like the auth endpoints."""

    seen: ClassVar[list[dict[str, Any]]] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if self.path == "/v1/auth/refresh" and body.get("refresh_token") != "r1":
            self._answer(401, {"status_code": 401, "message": "Session expired", "error_id": "x"})
        elif self.path in ("/v1/auth/login", "/v1/auth/refresh"):
            self._answer(200, {"access_token": "a1", "refresh_token": "r1", "expires_in": 900})
        elif self.path == "/v1/auth/logout":
            self._answer(204, None)
        else:
            self._answer(200, {"echo": body})

    do_GET = do_PATCH = do_POST  # noqa: N815 - the stdlib handler naming

    def _answer(self, status: int, payload: object) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _background(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets/app-1a2b.js").write_text("console.log(1)")
    return tmp_path


@pytest.fixture
def app(bundle: Path) -> Iterator[str]:
    FakeGateway.seen.clear()
    gateway = ThreadingHTTPServer(("127.0.0.1", 0), FakeGateway)
    gateway_url = _background(gateway)
    server = serve(bundle, gateway_url, 0)
    yield _background(server)
    server.shutdown()
    gateway.shutdown()


def test_serves_the_bundle_with_client_side_routes_and_safe_caching(app: str) -> None:
    page = httpx.get(f"{app}/profile/settings")
    assert page.status_code == 200
    assert "id=root" in page.text
    assert page.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    asset = httpx.get(f"{app}/assets/app-1a2b.js")
    assert asset.headers["Cache-Control"].endswith("immutable")
    assert asset.headers["Content-Type"] == "text/javascript"
    escape = httpx.get(f"{app}/..%2F..%2F..%2Fetc%2Fpasswd")
    assert "root:" not in escape.text
    assert httpx.get(f"{app}/health/ready").status_code == 200


def test_forwards_api_calls_without_the_prefix_or_the_cookie(app: str) -> None:
    response = httpx.patch(
        f"{app}/api/v1/profile?x=1",
        json={"display_name": "Ada"},
        headers={"Authorization": "Bearer t", "If-Match": '"v1"', "Cookie": f"{COOKIE}=r1"},
    )
    assert response.status_code == 200
    assert response.json() == {"echo": {"display_name": "Ada"}}
    call = FakeGateway.seen[-1]
    assert call["path"] == "/v1/profile?x=1"
    assert call["headers"]["Authorization"] == "Bearer t"
    assert call["headers"]["If-Match"] == '"v1"'
    assert "Cookie" not in call["headers"]


def test_the_refresh_token_lives_only_in_an_httponly_cookie(app: str) -> None:
    with httpx.Client(base_url=app) as browser:
        login = browser.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "p"})
        assert login.status_code == 200
        assert login.json() == {"access_token": "a1", "expires_in": 900}
        cookie = login.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=r1;")
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/api/v1/auth" in cookie

        refreshed = browser.post("/api/v1/auth/refresh", json={})
        assert refreshed.status_code == 200
        assert FakeGateway.seen[-1]["body"] == {"refresh_token": "r1"}
        assert "refresh_token" not in refreshed.json()

        logout = browser.post("/api/v1/auth/logout", json={})
        assert logout.status_code == 204
        assert FakeGateway.seen[-1]["body"] == {"refresh_token": "r1"}
        assert "Max-Age=0" in logout.headers["Set-Cookie"]


def test_a_refused_refresh_forgets_the_cookie(app: str) -> None:
    refused = httpx.post(
        f"{app}/api/v1/auth/refresh", json={}, headers={"Cookie": f"{COOKIE}=stale"}
    )
    assert refused.status_code == 401
    assert "Max-Age=0" in refused.headers["Set-Cookie"]


def test_an_unreachable_gateway_is_a_uniform_503(bundle: Path) -> None:
    server = serve(bundle, "http://127.0.0.1:9", 0)  # port 9 (discard) has no listener here
    app = _background(server)
    try:
        response = httpx.get(f"{app}/api/v1/profile")
        assert response.status_code == 503
        body = response.json()
        assert body["error_type"] == "dependency_unavailable"
        assert response.headers["X-Error-ID"] == body["error_id"]
    finally:
        server.shutdown()
