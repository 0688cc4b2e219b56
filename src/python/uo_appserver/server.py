"""The app tier's server: one per stack, on :3000. It serves the stack's built React bundle and
forwards ``/api/*`` to the stack's own gateway, so the browser talks to a single origin and the
app tier reaches nothing but its api.

Sessions: the refresh token never reaches the page. When a sign-in or refresh answers with one,
the server moves it into an httpOnly, SameSite=Strict cookie scoped to ``/api/v1/auth`` and hands
the page only the short-lived access token (kept in memory); a refresh or sign-out without a
token in its body gets the cookie's. Script on the page (an XSS) can therefore use a session
while the page is open but cannot carry the long-lived credential away.
"""

from __future__ import annotations

import http.client
import json
import mimetypes
import os
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

COOKIE = "uo_refresh"
COOKIE_PATH = "/api/v1/auth"
COOKIE_MAX_AGE = 14 * 24 * 3600
SESSION_CALLS = {"/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"}
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}  # fmt: skip
MAX_BODY = 1024 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
    "'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def error_body(status: int, message: str, error_type: str) -> tuple[bytes, str]:
    error_id = str(uuid.uuid4())
    body = {
        "status_code": status,
        "message": message,
        "error_id": error_id,
        "error_type": error_type,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return json.dumps(body).encode(), error_id


def log(event: str, **fields: object) -> None:
    record = {"timestamp": datetime.now(UTC).isoformat(), "service": "app", "event": event}
    print(json.dumps({**record, **fields}), flush=True)


class AppHandler(BaseHTTPRequestHandler):
    bundle: ClassVar[Path]
    api: ClassVar[tuple[str, int]]
    secure_cookie: ClassVar[bool] = False
    protocol_version = "HTTP/1.1"
    server_version = "unifyops-app"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        return  # errors are logged as JSON where they happen; no access log

    # -- responses ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, error_type: str) -> None:
        body, error_id = error_body(status, message, error_type)
        self._send(status, body, {"Content-Type": "application/json", "X-Error-ID": error_id})

    # -- static bundle -----------------------------------------------------------------------

    def _static(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/health/live", "/health/ready"):
            ready = (self.bundle / "index.html").is_file()
            status = 200 if ready or path == "/health/live" else 503
            body = json.dumps({"status": "ok" if status == 200 else "no bundle"}).encode()
            self._send(status, body, {"Content-Type": "application/json"})
            return
        target = (self.bundle / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.bundle) or not target.is_file():
            target = self.bundle / "index.html"  # client-side routes
        if not target.is_file():
            self._error(404, "Not found", "not_found")
            return
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # Vite names assets by content hash: cache them for good, never the page itself.
        immutable = target.parent.name == "assets"
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        self._send(200, target.read_bytes(), {"Content-Type": content_type, "Cache-Control": cache})

    # -- the api -----------------------------------------------------------------------------

    def _cookie_token(self) -> str | None:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        return cookie[COOKIE].value if COOKIE in cookie else None

    def _session_cookie(self, token: str | None) -> str:
        attributes = f"Path={COOKIE_PATH}; HttpOnly; SameSite=Strict"
        if self.secure_cookie:
            attributes += "; Secure"
        if token is None:
            return f"{COOKIE}=; Max-Age=0; {attributes}"
        return f"{COOKIE}={token}; Max-Age={COOKIE_MAX_AGE}; {attributes}"

    def _proxy(self) -> None:
        parts = urlsplit(self.path)
        upstream_path = parts.path.removeprefix("/api") or "/"
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(413, "The request body is too large", "validation_error")
            return
        body = self.rfile.read(length) if length else b""
        session_call = upstream_path in SESSION_CALLS and self.command == "POST"
        if session_call and upstream_path != "/v1/auth/login":
            body = self._with_cookie_token(body)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"cookie"}
        }
        headers["X-Forwarded-Proto"] = "https" if self.secure_cookie else "http"
        target = upstream_path + (f"?{parts.query}" if parts.query else "")
        connection = http.client.HTTPConnection(*self.api, timeout=30)
        try:
            connection.request(self.command, target, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except OSError as exc:
            log("api_unavailable", api=f"{self.api[0]}:{self.api[1]}", error=type(exc).__name__)
            self._error(
                503, "The service is not available; try again shortly", "dependency_unavailable"
            )
            return
        finally:
            connection.close()
        passed = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
        if session_call:
            answer, cookie = self._session_answer(upstream_path, response.status, answer)
            if cookie:
                passed["Set-Cookie"] = cookie
            passed["Cache-Control"] = "no-store"
        self._send(response.status, answer, passed)

    def _with_cookie_token(self, body: bytes) -> bytes:
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return body  # let the gateway answer the malformed body
        if isinstance(payload, dict) and not payload.get("refresh_token"):
            token = self._cookie_token()
            if token:
                payload["refresh_token"] = token
        return json.dumps(payload).encode()

    def _session_answer(self, path: str, status: int, answer: bytes) -> tuple[bytes, str | None]:
        """The answer without its refresh token, and the cookie that now holds it."""
        if path == "/v1/auth/logout":
            return answer, self._session_cookie(None)
        if status != 200:
            # A refused refresh means the session is over: forget the cookie too.
            return answer, self._session_cookie(None) if path == "/v1/auth/refresh" else None
        try:
            payload = json.loads(answer)
        except ValueError:
            return answer, None
        token = payload.pop("refresh_token", None) if isinstance(payload, dict) else None
        return json.dumps(payload).encode(), self._session_cookie(token) if token else None

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            if urlsplit(self.path).path.startswith("/api/"):
                self._proxy()
            elif self.command in ("GET", "HEAD"):
                self._static()
            else:
                self._error(405, "Method not allowed", "method_not_allowed")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815


def serve(
    bundle: Path, api_url: str, port: int, secure_cookie: bool = False
) -> ThreadingHTTPServer:
    parts = urlsplit(api_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"UO_API_URL must be http://host:port, not {api_url!r}")
    handler = type(
        "Handler",
        (AppHandler,),
        {
            "bundle": bundle.resolve(),
            "api": (parts.hostname, parts.port or 80),
            "secure_cookie": secure_cookie,
        },
    )
    server = ThreadingHTTPServer(("0.0.0.0", port), handler)  # noqa: S104 - a container's port
    server.daemon_threads = True
    return server


def main() -> int:
    bundle = Path(os.environ.get("UO_BUNDLE_DIR", "/app/bundle"))
    api_url = os.environ.get("UO_API_URL", "")
    port = int(os.environ.get("UO_PORT", "3000"))
    secure = os.environ.get("UO_SECURE_COOKIE", "false").lower() == "true"
    try:
        server = serve(bundle, api_url, port, secure)
    except (ValueError, OSError) as exc:
        print(f"app: cannot start: {exc}", file=sys.stderr)
        return 1

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    log("listening", port=port, api=api_url, bundle=str(bundle))
    server.serve_forever()
    server.server_close()
    return 0


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["COOKIE", "AppHandler", "serve"]
