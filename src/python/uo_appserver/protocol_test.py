"""Malformed HTTP gets a prompt uniform answer and a closed connection, from the protocol layer."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest


def _exchange(app: str, request: bytes) -> tuple[bytes, float]:
    parts = urlsplit(app)
    assert parts.hostname
    assert parts.port
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        raw.sendall(request)
        data = b""
        while chunk := raw.recv(65536):  # ends only when the server closes
            data += chunk
    return data, time.monotonic() - started


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"\x16\x03\x01garbage\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        # Whole in one read (the app refuses it) and larger than any one read (h11 refuses it).
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, x\r\n\r\n", 501),
    ],
    ids=[
        "garbage",
        "length-abc",
        "length-negative",
        "length-twice",
        "header-20k",
        "header-2m",
        "gzip-te",
    ],
)
def test_malformed_requests_get_a_uniform_answer_and_a_close(
    app: str, request_bytes: bytes, status: int
) -> None:
    answer, elapsed = _exchange(app, request_bytes)
    assert elapsed < 3
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"connection: close" in head.lower()
    assert b"x-content-type-options: nosniff" in head.lower()
    payload = json.loads(body)
    assert payload["status_code"] == status
    assert set(payload) == {"status_code", "message", "error_id", "error_type", "timestamp"}
