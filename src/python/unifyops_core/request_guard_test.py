import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form
from pydantic import BaseModel
from starlette.types import Message

from unifyops_core.app import create_service_app
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing import CapturedLogs, capture_logs

UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}
LIMIT = 50_000  # room for a 10 000-deep document, which is only 20 kB


class Note(BaseModel):
    title: str
    score: float = 0.0
    tags: dict[str, Any] = {}


def build_app(reached: list[Any]) -> FastAPI:
    settings = ServiceSettings(service_name="demo-api", max_body_bytes=LIMIT)
    app = create_service_app(settings, version="1")

    @app.post("/notes")
    async def create_note(note: Note) -> Note:
        reached.append(note)
        return note

    @app.get("/notes/{name}")
    async def get_note(name: str, q: str = "") -> dict[str, str]:
        reached.append(name)
        return {"name": name, "q": q}

    @app.post("/token")
    async def token(client_id: str = Form()) -> dict[str, str]:
        reached.append(client_id)
        return {"client_id": client_id}

    return app


@pytest.fixture
def reached() -> list[Any]:
    return []


@pytest.fixture
async def http(reached: list[Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(reached)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        yield client


@pytest.fixture
def logs() -> AsyncIterator[CapturedLogs]:  # type: ignore[misc]
    with capture_logs() as captured:
        yield captured


def assert_uniform(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= UNIFORM_KEYS
    assert (body["status_code"], body["error_type"]) == (status, error_type)
    assert response.headers["X-Error-ID"] == body["error_id"]
    return body


def assert_quiet(logs: CapturedLogs) -> None:
    """A refused request is an info line: no error, no traceback, no echo of the input."""
    for record in logs.records:
        assert record["level"] != "ERROR", record
        assert "exception" not in record, record
        assert "\\u0000" not in json.dumps(record)


HOSTILE_JSON = {
    "NUL in a value": '{"title": "a\\u0000b"}',
    "NUL in a key": '{"title": "a", "tags": {"k\\u0000": 1}}',
    "NUL deep in a list": '{"title": "a", "tags": {"x": [["ok", "\\u0000"]]}}',
    "an unpaired surrogate": '{"title": "\\ud800"}',
    "NaN": '{"title": "a", "score": NaN}',
    "Infinity": '{"title": "a", "score": Infinity}',
    "-Infinity": '{"title": "a", "score": -Infinity}',
    "an overflowing float": '{"title": "a", "score": 1e400}',
    "deep nesting": '{"title": "a", "tags": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}",
    "nesting past the limit": '{"title": "a", "tags": {"x": ' + "[" * 70 + "]" * 70 + "}}",
    "not UTF-8": b'{"title": "\xff\xfe"}',
}


@pytest.mark.parametrize("payload", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_hostile_json_is_a_422_before_the_handler(
    http: httpx.AsyncClient, reached: list[Any], logs: CapturedLogs, payload: str | bytes
) -> None:
    content = payload if isinstance(payload, bytes) else payload.encode()
    response = await http.post(
        "/notes", content=content, headers={"Content-Type": "application/json"}
    )
    body = assert_uniform(response, 422, "validation_error")
    assert body["details"]["errors"][0]["loc"][0] == "body"
    assert reached == []
    assert_quiet(logs)


async def test_the_location_of_a_nul_is_named_but_not_echoed(http: httpx.AsyncClient) -> None:
    response = await http.post("/notes", content=b'{"title": "secret\\u0000pw"}')
    body = assert_uniform(response, 422, "validation_error")
    assert body["details"]["errors"][0]["loc"] == ["body", "title"]
    assert "secret" not in response.text


async def test_acceptable_json_reaches_the_handler_unchanged(
    http: httpx.AsyncClient, reached: list[Any]
) -> None:
    note = {"title": "ünïcode ✓ 😀", "score": 1.5e300, "tags": {"a": [1, {"b": None}]}}
    response = await http.post("/notes", json=note)
    assert response.status_code == 200, response.text
    assert response.json() == note
    assert len(reached) == 1


async def test_malformed_json_is_still_the_frameworks_uniform_422(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/notes", content=b'{"title": ', headers={"Content-Type": "application/json"}
    )
    assert_uniform(response, 422, "validation_error")


@pytest.mark.parametrize(
    "url", ["/notes/a%00b", "/notes/ok?q=a%00b", "/notes/ok?a%00=1"], ids=["path", "query", "key"]
)
async def test_nul_in_path_or_query_is_a_422(
    http: httpx.AsyncClient, reached: list[Any], url: str
) -> None:
    assert_uniform(await http.get(url), 422, "validation_error")
    assert reached == []


async def test_nul_in_a_form_field_is_a_422(http: httpx.AsyncClient, reached: list[Any]) -> None:
    response = await http.post("/token", data={"client_id": "app\x00"})
    assert_uniform(response, 422, "validation_error")
    assert reached == []
    ok = await http.post("/token", data={"client_id": "app"})
    assert ok.json() == {"client_id": "app"}


# Raw ASGI: the declared length and the chunks are exactly what a hostile client sends.
async def call_raw(
    app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """(status, body, how many body chunks the app asked for)."""
    sent: list[Message] = []
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= len(chunks):
            return {"type": "http.disconnect"}
        pulled += 1
        more = pulled < len(chunks)
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": more}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/notes",
        "raw_path": b"/notes",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


async def test_a_declared_length_over_the_limit_is_refused_unread(reached: list[Any]) -> None:
    status, body, pulled = await call_raw(
        build_app(reached), [(b"content-length", str(LIMIT + 1).encode())], [b"x" * (LIMIT + 1)]
    )
    assert (status, body["error_type"], pulled) == (413, "payload_too_large", 0)
    assert set(body) >= UNIFORM_KEYS
    assert reached == []


async def test_a_streamed_body_is_refused_as_soon_as_it_crosses_the_limit(
    reached: list[Any],
) -> None:
    chunks = [b"[" + b" " * 19_999] + [b" " * 20_000] * 20  # no Content-Length: chunked
    status, body, pulled = await call_raw(build_app(reached), [], chunks)
    assert (status, body["error_type"]) == (413, "payload_too_large")
    assert pulled == 3  # 20, 40, 60 kB: stopped at the first chunk past the limit
    assert reached == []


@pytest.mark.parametrize("declared", [b"abc", b"-1", b"1.5", b"10, 12", b"\xd9\xa3", b""])
async def test_an_invalid_content_length_is_a_400(reached: list[Any], declared: bytes) -> None:
    status, body, pulled = await call_raw(
        build_app(reached), [(b"content-length", declared)], [b"{}"]
    )
    assert (status, body["error_type"], pulled) == (400, "bad_request", 0)
    assert reached == []


async def test_repeated_equal_lengths_are_one_length(reached: list[Any]) -> None:
    payload = b'{"title": "a"}'
    length = str(len(payload)).encode()
    status, body, _ = await call_raw(
        build_app(reached), [(b"content-length", length), (b"content-length", length)], [payload]
    )
    assert (status, body["title"]) == (200, "a")
