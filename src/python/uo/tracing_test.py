from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from uo.loglines import LogLine, Source, parse_line
from uo.tracing import as_json, build_trace, render, request_ids_for

T0 = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
EDGE = Source("platform-edge", "platform", "edge")
APP = Source("user-app", "user", "app")
API = Source("user-api", "user", "api")
SERVICE = Source("user-service", "user", "service")
RID = "req-1"


def _at(ms: float) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def core(source: Source, end_ms: float, **fields: Any) -> LogLine:
    """A core tier's line (unifyops_core.logs): bound fields under "extra"."""
    record = {
        "timestamp": _at(end_ms),
        "level": fields.pop("level", "INFO"),
        "message": fields.pop("message", "line"),
        "service": f"{source.stack}-{source.tier}",
        "request_id": fields.pop("request_id", RID),
        "error_id": fields.pop("error_id", None),
        "extra": fields,
    }
    return parse_line(source, json.dumps(record))


def access(source: Source, end_ms: float, duration_ms: float, status: int, **more: Any) -> LogLine:
    path = more.pop("path", "/v1/profile")
    return core(
        source, end_ms, method="GET", path=path, status=status, duration_ms=duration_ms, **more
    )


def plain_access(source: Source, end_ms: float, duration_ms: float, status: int) -> LogLine:
    """The edge's and app server's shape: top-level fields, no level."""
    record = {
        "timestamp": (T0 + timedelta(milliseconds=end_ms)).isoformat(),
        "service": source.tier,
        "event": "access",
        "request_id": RID,
        "method": "GET",
        "path": "/api/v1/profile",
        "status": status,
        "duration_ms": duration_ms,
    }
    return parse_line(source, json.dumps(record))


def chain(service_status: int = 200) -> list[LogLine]:
    return [
        plain_access(EDGE, 100, 100, service_status),
        plain_access(APP, 98, 95, service_status),
        access(API, 95, 85, service_status),
        access(SERVICE, 90, 70, service_status),
    ]


def tiers(trace_roots: list[Any]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []

    def walk(span: Any, depth: int) -> None:
        out.append((depth, span.tier))
        for child in span.children:
            walk(child, depth + 1)

    for root in trace_roots:
        walk(root, 0)
    return out


def test_a_chain_becomes_a_path_from_the_edge_to_the_service() -> None:
    trace = build_trace(RID, chain())
    assert tiers(trace.roots) == [(0, "edge"), (1, "app"), (2, "api"), (3, "service")]
    assert trace.failing is None
    assert trace.roots[0].duration_ms == 100


def test_out_of_order_lines_give_the_same_tree() -> None:
    lines = chain()
    # Lines reach the reader in any order: every edge line last, services first, ...
    shuffled = [lines[2], lines[0], lines[3], lines[1]]
    assert tiers(build_trace(RID, shuffled).roots) == tiers(build_trace(RID, lines).roots)


def test_a_hop_that_logged_nothing_leaves_its_callee_under_the_caller_in_front() -> None:
    lines = [line for line in chain() if line.source != API]
    assert tiers(build_trace(RID, lines).roots) == [(0, "edge"), (1, "app"), (2, "service")]


def test_a_retry_is_two_spans_of_the_callee_under_one_caller() -> None:
    lines = [
        access(API, 200, 190, 200),
        access(SERVICE, 60, 50, 503),  # first attempt fails
        access(SERVICE, 180, 40, 200),  # the retry answers
        core(API, 65, level="DEBUG", target="user-service", method="GET", url="/v1/x", status=503,
             attempt=1, duration_ms=52, message="call user-service GET /v1/x -> 503"),
        core(API, 182, level="DEBUG", target="user-service", method="GET", url="/v1/x", status=200,
             attempt=2, duration_ms=43, message="call user-service GET /v1/x -> 200"),
    ]  # fmt: skip
    trace = build_trace(RID, lines)
    assert tiers(trace.roots) == [(0, "api"), (1, "service"), (1, "service")]
    api = trace.roots[0]
    assert [c.status for c in api.children] == [503, 200]
    # The client's call lines are the caller's events, not spans.
    assert len(api.events) == 2
    # The failing hop is the deepest span that failed: the first attempt.
    assert trace.failing is api.children[0]


def test_the_failing_hop_is_the_deepest_5xx_and_carries_the_error_line() -> None:
    lines = [
        *chain(500),
        core(SERVICE, 89, level="ERROR", message="boom", error_id="err-9", exception={"type": "X"}),
        core(API, 94, level="WARNING", message="relayed", error_id="err-9"),
    ]
    trace = build_trace(RID, lines)
    assert trace.failing is not None
    assert trace.failing.tier == "service"
    assert [e.message for e in trace.failing.events] == ["boom"]
    text = render(trace)
    service_line = next(line for line in text.splitlines() if "user-service" in line)
    assert "500" in service_line
    assert "failing hop" in service_line
    assert "ERROR boom error_id=err-9 (X)" in text
    assert text.count("failing hop") == 1


def test_an_error_id_leads_to_its_request() -> None:
    other = access(API, 10, 5, 200, request_id="req-other")
    lines = [*chain(500), other, core(SERVICE, 89, level="ERROR", error_id="err-9")]
    assert request_ids_for("err-9", lines) == [RID]
    trace = build_trace("err-9", lines)
    assert trace.request_ids == [RID]
    assert len(trace.spans()) == 4
    assert as_json(trace)["failing"] == {
        "tier": "service",
        "container": "user-service",
        "status": 500,
    }


def test_without_a_5xx_the_hop_that_logged_the_error_id_is_the_failing_one() -> None:
    lines = [
        plain_access(EDGE, 100, 60, 404),
        access(API, 90, 40, 404),
        core(API, 85, message="request rejected: Not found", error_id="e"),
    ]
    trace = build_trace("e", lines)
    assert trace.failing is trace.roots[0].children[0]


def test_a_5xx_outranks_a_deeper_rejection() -> None:
    lines = [
        access(API, 100, 90, 500),
        access(SERVICE, 50, 30, 404),
        core(SERVICE, 45, message="request rejected: Not found", error_id="e"),
    ]
    trace = build_trace(RID, lines)
    assert trace.failing is trace.roots[0]


def test_a_4xx_alone_marks_nothing_and_unknown_ids_find_nothing() -> None:
    trace = build_trace(RID, [access(API, 50, 40, 404)])
    assert trace.failing is None
    empty = build_trace("nope", chain())
    assert empty.request_ids == []
    assert empty.roots == []


def test_json_keeps_the_tree() -> None:
    data = as_json(build_trace(RID, chain()))
    assert data["request_ids"] == [RID]
    node = data["spans"][0]
    path = []
    while node:
        path.append((node["tier"], node["status"]))
        node = node["children"][0] if node["children"] else None
    assert path == [("edge", 200), ("app", 200), ("api", 200), ("service", 200)]


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def span_line(source: Source, span_id: str, parent: str | None, name: str, **more: Any) -> LogLine:
    """A span as unifyops_core.tracing's log exporter writes it (no request id: it is written
    off the request path)."""
    start_ms = more.pop("start_ms", 0.0)
    record = {
        "name": name,
        "kind": more.pop("kind", "server"),
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_span_id": parent,
        "start": _at(start_ms),
        "duration_ms": more.pop("duration_ms", 1.0),
        "status": more.pop("status", "unset"),
        "attributes": more.pop("attributes", {}),
    }
    return core(
        source,
        500,
        message=f"span {name}",
        request_id=None,
        trace_id=TRACE,
        span_id=span_id,
        span=record,
    )


def traced_chain() -> list[LogLine]:
    return [
        access(APP, 100, 90, 200, trace_id=TRACE, span_id="a1"),
        access(API, 90, 70, 200, trace_id=TRACE, span_id="b1"),
        span_line(APP, "a1", None, "GET /api/{path:path}", start_ms=10, duration_ms=90),
        span_line(APP, "a2", "a1", "GET", kind="client", start_ms=15, duration_ms=80),
        span_line(API, "b1", "a2", "GET /v1/profile", start_ms=20, duration_ms=70),
        span_line(API, "b2", "b1", "GET", kind="client", start_ms=25, duration_ms=50),
        span_line(SERVICE, "c1", "b2", "GET /v1/profile", start_ms=30, duration_ms=40),
        span_line(
            SERVICE,
            "c2",
            "c1",
            "SELECT",
            kind="client",
            start_ms=35,
            attributes={"db.system": "postgresql", "db.statement": "SELECT id FROM profiles"},
        ),
        # another request's trace: not part of this one
        core(
            SERVICE,
            600,
            message="span other",
            request_id=None,
            trace_id="f" * 32,
            span={"name": "other", "trace_id": "f" * 32, "span_id": "z1", "kind": "server"},
        ),
    ]


def test_the_opentelemetry_spans_of_the_request_form_one_tree_across_tiers() -> None:
    trace = build_trace(RID, traced_chain())
    assert trace.trace_ids == [TRACE]
    (root,) = trace.otel_roots
    path = []
    node = root
    while node.children:
        path.append((node.line.source.name, node.record["kind"]))
        node = node.children[0]
    path.append((node.line.source.name, node.record["kind"]))
    assert path == [
        ("user-app", "server"),
        ("user-app", "client"),
        ("user-api", "server"),
        ("user-api", "client"),
        ("user-service", "server"),
        ("user-service", "client"),
    ]
    text = render(trace)
    assert f"trace {TRACE}: 6 OpenTelemetry spans" in text
    assert "SELECT  SELECT id FROM profiles" in text
    assert "other" not in text
    data = as_json(trace)
    assert data["trace_ids"] == [TRACE]
    assert data["otel_spans"][0]["children"][0]["children"][0]["container"] == "user-api"


def test_a_trace_id_finds_the_request_and_its_spans() -> None:
    trace = build_trace(TRACE, traced_chain())
    assert trace.request_ids == [RID]
    assert len(trace.roots) == 1
    assert trace.trace_ids == [TRACE]
    assert len(trace.otel_roots) == 1


def test_without_tracing_there_is_no_second_tree() -> None:
    trace = build_trace(RID, chain())
    assert trace.trace_ids == []
    assert "OpenTelemetry" not in render(trace)
    assert as_json(trace)["otel_spans"] == []
