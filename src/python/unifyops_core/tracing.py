"""Traces: OpenTelemetry across every tier, exported over OTLP or into the tier's JSON log.

With ``UO_TRACES=log`` or ``otlp`` a tier starts a span for every request it serves (the FastAPI
instrumentation), one for every call it makes through httpx and one for every query asyncpg runs
(the maintained ``opentelemetry-instrumentation-*`` packages); the W3C ``traceparent`` header
carries the trace from the app server to the gateway, the service and the database calls, so one
request is one trace. Every JSON log line written while a span is current carries its
``trace_id`` and ``span_id`` (logs.py).

Where the spans go:
- ``otlp``: the SDK's OTLP/HTTP exporter to ``UO_OTLP_ENDPOINT`` (a cluster's collector; the
  chart takes it from values), in batches off the request path;
- ``log``: on a machine where no collector runs (`uo up`), each finished span is one JSON log line
  of the tier (``message: "span <name>"``, the span under ``extra.span``), so the engine's log
  holds the trace and `uo trace` can read it.

Sampling is a ratio of new traces (``UO_TRACE_SAMPLE_RATIO``); a request that arrives with a
sampled ``traceparent`` is always recorded (parent-based), so a trace is never cut in the middle.
``off`` (the default, for tests and tools) installs nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from loguru import logger
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from unifyops_core._version import __version__ as core_version

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI  # pants: no-infer-dep (only instrument_app's callers have it)

Exporter = Literal["off", "log", "otlp"]

# Not traced: probes and scrapes arrive every few seconds and say nothing about a request.
UNTRACED_PATHS: Final = "/health/.*,/metrics"
# Span attributes a log line keeps: what places the span in a request, never a header or a body.
# (The instrumentations record URLs without their query, and SQL text without bound values.)
_KEPT_ATTRIBUTE_PREFIXES: Final = ("http.", "url.", "server.", "db.", "net.peer.", "error.")


def format_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


def format_span_id(span_id: int) -> str:
    return format(span_id, "016x")


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the span current in this context, if one records."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format_trace_id(context.trace_id), format_span_id(context.span_id)


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """What a span's log line carries under ``extra.span``."""
    context = span.get_span_context()
    start = span.start_time or 0
    end = span.end_time or start
    attributes = {
        key: value
        for key, value in (span.attributes or {}).items()
        if key.startswith(_KEPT_ATTRIBUTE_PREFIXES)
    }
    record: dict[str, Any] = {
        "name": span.name,
        "kind": span.kind.name.lower(),
        "trace_id": format_trace_id(context.trace_id) if context else None,
        "span_id": format_span_id(context.span_id) if context else None,
        "parent_span_id": format_span_id(span.parent.span_id) if span.parent else None,
        "start": datetime.fromtimestamp(start / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_ms": round((end - start) / 1e6, 3),
        "status": span.status.status_code.name.lower(),
        "attributes": attributes,
    }
    if span.status.description:
        record["status_description"] = span.status.description
    return record


class LogSpanExporter(SpanExporter):
    """Writes each finished span as one line of the tier's JSON log (through the redaction)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            record = span_record(span)
            logger.bind(trace_id=record["trace_id"], span_id=record["span_id"], span=record).info(
                f"span {span.name}"
            )
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def build_provider(
    *,
    service: str,
    version: str,
    environment: str,
    exporter: Exporter,
    otlp_endpoint: str = "",
    sample_ratio: float = 1.0,
) -> TracerProvider:
    """A tracer provider for one tier, exporting in batches (the request path only queues)."""
    resource = Resource.create(
        {
            "service.name": service,
            "service.version": version,
            "deployment.environment": environment,
            "unifyops.core_version": core_version,
        }
    )
    sampler = ParentBased(TraceIdRatioBased(sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)
    span_exporter: SpanExporter
    if exporter == "otlp":
        # Imported here: the exporter pulls in protobuf, which `log` tiers need not load.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
    else:
        span_exporter = LogSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=1000))
    return provider


_installed: TracerProvider | None = None
_install_lock = threading.Lock()


def install(provider: TracerProvider) -> TracerProvider:
    """Make ``provider`` the process's tracer provider and patch asyncpg, once per process.

    OpenTelemetry allows one global provider per process; a second call (a test building a
    second app) keeps the first and returns it.
    """
    global _installed
    with _install_lock:
        if _installed is None:
            trace.set_tracer_provider(provider)
            _instrument_asyncpg(provider)
            _installed = provider
        return _installed


def _instrument_asyncpg(provider: TracerProvider) -> None:
    """Statement spans, where the process has a database driver to patch: the database layer
    (``unifyops_core.db``) brings asyncpg and its instrumentation; the app server has neither."""
    instrumentation = "opentelemetry.instrumentation.asyncpg"
    if (
        importlib.util.find_spec("asyncpg") is None
        or importlib.util.find_spec(instrumentation) is None
    ):
        return
    module = importlib.import_module(instrumentation)
    module.AsyncPGInstrumentor().instrument(tracer_provider=provider)


def installed() -> TracerProvider | None:
    return _installed


def setup(
    *,
    service: str,
    version: str,
    environment: str,
    exporter: Exporter,
    otlp_endpoint: str = "",
    sample_ratio: float = 1.0,
) -> TracerProvider:
    """The process's provider: the one installed already, or a new one for this tier."""
    if _installed is not None:
        return _installed
    return install(
        build_provider(
            service=service,
            version=version,
            environment=environment,
            exporter=exporter,
            otlp_endpoint=otlp_endpoint,
            sample_ratio=sample_ratio,
        )
    )


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    """The server span of every request but probes and scrapes; no spans for ASGI messages."""
    # Not inferred: only FastAPI apps call this, and unifyops_core.app declares the dependency.
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # pants: no-infer-dep

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=UNTRACED_PATHS,
        exclude_spans=["receive", "send"],
    )


def traced(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client``, giving it a client span per call and the ``traceparent`` header once tracing
    is installed. Called where a call is made: tiers build their clients before the app factory
    installs tracing."""
    if _installed is not None and not getattr(client, "_is_instrumented_by_opentelemetry", False):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_installed)
    return client


__all__ = [
    "UNTRACED_PATHS",
    "Exporter",
    "LogSpanExporter",
    "build_provider",
    "current_ids",
    "format_span_id",
    "format_trace_id",
    "install",
    "installed",
    "instrument_app",
    "setup",
    "span_record",
    "traced",
]
