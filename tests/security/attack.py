"""What an attacker has: the published ports, raw sockets and an HTTP client.

Every secret a test uses or is given is remembered here, so the last test can search every
container's logs for all of them.
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from e2e.environment import PASSWORD, UNIFORM_KEYS, Running

SEEN_SECRETS: set[str] = {PASSWORD}


def remember(*secrets: str | None) -> None:
    SEEN_SECRETS.update(s for s in secrets if s)


def unique_email(prefix: str = "sec") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def register(running: Running, email: str, password: str = PASSWORD) -> None:
    answer = httpx.post(
        running.url("auth-api", "/v1/auth/register"), json={"email": email, "password": password}
    )
    assert answer.status_code == 201, answer.text


def login(
    running: Running, email: str, password: str = PASSWORD, device_token: str | None = None
) -> httpx.Response:
    body: dict[str, object] = {"email": email, "password": password}
    if device_token:
        body["device_token"] = device_token
    answer = httpx.post(running.url("auth-api", "/v1/auth/login"), json=body, timeout=30)
    if answer.status_code == 200:
        tokens = answer.json()
        remember(
            tokens.get("access_token"), tokens.get("refresh_token"), tokens.get("device_token")
        )
    return answer


def member(running: Running) -> tuple[str, dict[str, str]]:
    """A fresh self-registered account and its token pair (what any stranger can get)."""
    email = unique_email()
    register(running, email)
    answer = login(running, email)
    assert answer.status_code == 200, answer.text
    return email, answer.json()


def assert_uniform_error(
    response: httpx.Response | RawResponse, *statuses: int
) -> dict[str, object]:
    """The status is one of ``statuses`` and the body is the platform's uniform error shape."""
    status = response.status_code
    assert status in statuses, f"{status}: {response.text[:500]}"
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) >= UNIFORM_KEYS, body
    assert body["status_code"] == status, body
    return body


@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> object:
        import json

        return json.loads(self.content)


def raw_request(url: str, payload: bytes, timeout: float = 15.0) -> RawResponse:
    """Send ``payload`` as is on a fresh connection and read the answer until the server closes.

    Fails (rather than returning) when the server resets the connection or says nothing within
    ``timeout``: an attacker's malformed request must get an answer, not a hang or a reset.
    """
    parts = urlsplit(url)
    started = time.monotonic()
    chunks: list[bytes] = []
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(payload)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError as exc:
                raise AssertionError(f"no answer within {timeout}s to {payload[:80]!r}") from exc
            if not chunk:
                break
            chunks.append(chunk)
            if _complete(b"".join(chunks)):
                break
    data = b"".join(chunks)
    assert data, f"connection closed without an answer to {payload[:80]!r}"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status, headers, body, time.monotonic() - started)


def _complete(data: bytes) -> bool:
    """A whole response with a Content-Length has arrived (so keep-alive cannot make us wait)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return False


def request_head(method: str, path: str, host: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return "\r\n".join(lines).encode()
