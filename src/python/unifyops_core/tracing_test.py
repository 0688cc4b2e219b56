"""Traces across tiers, read back from the JSON log as an operator's tools read them: a gateway
calls a service through ServiceClient, the service queries the real test PostgreSQL, and every
span of the request lands in one trace with the right parents. OpenTelemetry keeps one provider
per process, so this file installs tracing once (``log``) and the apps share it.

The OTLP path is checked against a small HTTP receiver that decodes what the SDK's exporter
posts: no OpenTelemetry Collector can be installed on these machines (no Debian package, no
wheel), so this stands in for one."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.propagate import extract
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError
from sqlalchemy import text

from unifyops_core import tracing
from unifyops_core.app import create_service_app
from unifyops_core.client import ServiceClient
from unifyops_core.db import Database, DatabaseSettings
from unifyops_core.logs import configure_logging
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing_db import free_port, fresh_database, serve_on_loopback

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def settings(name: str) -> ServiceSettings:
    return ServiceSettings(service_name=name, traces="log")


def service_app(database: DatabaseSettings) -> FastAPI:
    """A service tier; its engine lives in its own server's event loop (lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(database)
        yield
        await app.state.db.engine.dispose()

    app = create_service_app(settings("demo-service"), version="1", lifespan=lifespan)

    @app.get("/v1/answer")
    async def answer(request: Request) -> dict[str, int]:
        async with request.app.state.db.engine.connect() as connection:
            value = (await connection.execute(text("SELECT 41 + 1"))).scalar_one()
        return {"answer": value}

    @app.get("/v1/broken")
    async def broken() -> dict[str, int]:
        raise RuntimeError("boom")

    return app


@contextmanager
def chain(database: DatabaseSettings) -> Iterator[tuple[FastAPI, io.StringIO]]:
    """The gateway (called in-process) and the service (a real server on loopback, so the
    trace crosses HTTP as between pods); the log of both, captured."""
    # The client first, as the tiers build theirs before the app factory installs tracing (the
    # first test of this file runs before anything is installed in the process).
    port = free_port()
    client = ServiceClient(f"http://127.0.0.1:{port}", service="demo-service", max_retries=0)
    with serve_on_loopback(service_app(database), port):
        gateway = create_service_app(settings("demo-api"), version="1")

        @gateway.get("/v1/{name}")
        async def relay(name: str) -> Any:
            return (await client.get(f"/v1/{name}")).json()

        yield gateway, capture()


def capture() -> io.StringIO:
    """The log from here on; spans finished before (a fixture's database set-up) are written
    out first, to the previous sink."""
    provider = tracing.installed()
    if provider is not None:
        provider.force_flush()
    stream = io.StringIO()
    configure_logging(service="demo", version="1", environment="development", stream=stream)
    return stream


@pytest.fixture
async def database() -> AsyncIterator[DatabaseSettings]:
    async with fresh_database() as found:
        yield found


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    provider = tracing.installed()
    assert provider is not None
    provider.force_flush()  # the batch exporter writes the finished spans now
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def spans(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line["extra"]["span"] for line in lines(stream) if "span" in line.get("extra", {})]


def is_http(span: dict[str, Any]) -> bool:
    return any(key.startswith(("http.", "url.")) for key in span["attributes"])


async def call(gateway: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=gateway, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo-api") as client:
        return await client.get(path, headers=headers)


async def test_one_request_is_one_trace_from_gateway_to_database(
    database: DatabaseSettings,
) -> None:
    with chain(database) as (gateway, log):
        response = await call(gateway, "/v1/answer")
    assert response.json() == {"answer": 42}
    found = spans(log)
    assert len({span["trace_id"] for span in found}) == 1, found
    by_id = {span["span_id"]: span for span in found}
    servers = [span for span in found if span["kind"] == "server"]
    clients = [span for span in found if span["kind"] == "client" and is_http(span)]
    queries = [span for span in found if span["kind"] == "client" and not is_http(span)]
    assert len(servers) == 2, found
    assert len(clients) == 1, found
    assert queries, found
    gateway_span = next(s for s in servers if s["parent_span_id"] is None)
    service_span = next(s for s in servers if s["parent_span_id"] is not None)
    # gateway server -> its call (the traceparent it sent) -> service server -> the query
    assert clients[0]["parent_span_id"] == gateway_span["span_id"]
    assert service_span["parent_span_id"] == clients[0]["span_id"]
    query_ancestors = set()
    cursor = queries[0]
    while cursor["parent_span_id"] in by_id:
        cursor = by_id[cursor["parent_span_id"]]
        query_ancestors.add(cursor["span_id"])
    assert service_span["span_id"] in query_ancestors
    # Every line written while serving carries the trace: both access lines.
    access = [line for line in lines(log) if line["message"].startswith("GET /v1/answer")]
    assert len(access) == 2, [line["message"] for line in lines(log)]
    assert {line["trace_id"] for line in access} == {gateway_span["trace_id"]}
    assert {line["span_id"] for line in access} <= set(by_id)


async def test_a_caller_s_traceparent_is_continued_not_replaced(
    database: DatabaseSettings,
) -> None:
    with chain(database) as (gateway, log):
        await call(gateway, "/v1/answer", traceparent=TRACEPARENT)
    found = spans(log)
    assert {span["trace_id"] for span in found} == {"0af7651916cd43dd8448eb211c80319c"}
    roots = [span for span in found if span["parent_span_id"] == "b7ad6b7169203331"]
    assert [span["kind"] for span in roots] == ["server"]


async def test_the_error_line_and_the_failing_span_carry_the_trace(
    database: DatabaseSettings,
) -> None:
    with chain(database) as (gateway, log):
        response = await call(gateway, "/v1/broken")
    assert response.status_code == 502
    error_id = response.json()["error_id"]
    written = lines(log)
    failing = [line for line in written if line.get("error_id") and line["level"] == "ERROR"]
    assert failing, [line["message"] for line in written]
    trace_ids = {line["trace_id"] for line in failing}
    assert len(trace_ids) == 1
    assert None not in trace_ids
    errors = [span for span in spans(log) if span["status"] == "error"]
    assert errors
    assert {span["trace_id"] for span in errors} == trace_ids
    assert any(line.get("error_id") == error_id for line in written)


def test_probes_and_scrapes_are_not_traced() -> None:
    assert "/health/.*" in tracing.UNTRACED_PATHS.split(",")
    assert "/metrics" in tracing.UNTRACED_PATHS.split(",")


async def test_probes_leave_no_span() -> None:
    app = create_service_app(settings("demo-service"), version="1")
    log = capture()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        assert (await client.get("/health/live")).status_code == 200
    assert spans(log) == []


def test_a_sample_ratio_of_zero_records_no_new_trace_but_follows_a_sampled_caller() -> None:
    provider = tracing.build_provider(
        service="demo", version="1", environment="development", exporter="log", sample_ratio=0
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("new") as span:
        assert not span.is_recording()

    with tracer.start_as_current_span(
        "continued", context=extract({"traceparent": TRACEPARENT})
    ) as span:
        assert span.is_recording()
    provider.shutdown()


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_otlp_exports_protobuf_spans_to_the_collector_endpoint() -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        provider = tracing.build_provider(
            service="user-api",
            version="7",
            environment="dev",
            exporter="otlp",
            otlp_endpoint=endpoint,
        )
        with provider.get_tracer("test").start_as_current_span("GET /v1/profile"):
            pass
        provider.force_flush()
        provider.shutdown()
    finally:
        server.shutdown()
    (path, body), *_ = Receiver.received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    resource = request.resource_spans[0].resource
    attributes = {a.key: a.value.string_value for a in resource.attributes}
    assert attributes["service.name"] == "user-api"
    assert attributes["deployment.environment"] == "dev"
    assert attributes["unifyops.core_version"]
    names = [s.name for s in request.resource_spans[0].scope_spans[0].spans]
    assert names == ["GET /v1/profile"]


def test_otlp_without_an_endpoint_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="UO_OTLP_ENDPOINT"):
        ServiceSettings(service_name="demo-api", traces="otlp")
    with pytest.raises(ValidationError):
        ServiceSettings(service_name="demo-api", traces="zipkin")
    assert ServiceSettings(service_name="demo-api").traces == "off"
