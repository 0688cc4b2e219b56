"""One request across tiers, rebuilt from the tiers' log lines (what `uo trace` prints).

No tracer runs: each tier writes one access line per request it served (request id, method, path,
status, ``duration_ms``), and the request id travels with the request (``X-Request-ID``; the edge
assigns it, ``ServiceClient`` forwards it). An access line is a span: it ends at its timestamp and
started ``duration_ms`` before. A span's parent is the span of the nearest tier in front of it
(edge → app → api → service → database) that was open when it started, so out-of-order lines,
a hop that logged nothing and retries (two spans of one tier under one caller) all come out as a
tree. Other lines of the request (warnings, the error line with its ``error_id``, a client's
DEBUG call line) are events of the span of their container that was open at the time.

Where the tiers trace (UO_TRACES=log, unifyops_core.tracing), their OpenTelemetry spans are log
lines too (``extra.span``, with real parent ids across tiers); the trace ids the request's lines
carry select them, and they are printed as a second tree beneath the hops.

The failing hop is the deepest span that answered >= 500; when none did, the deepest that logged
an error or an ``error_id`` (the hop that rejected the request with a 4xx). A 4xx access line
alone marks nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from uo.loglines import LogLine, level_rank, parse_time

# The chain of one stack, front to back; tiers not listed (hooks, migrations) go last.
TIER_ORDER = {"edge": 0, "app": 1, "api": 2, "service": 3, "database": 4}
# Containers share the host's clock, but a start is computed from a rounded duration.
_SLACK = timedelta(milliseconds=5)
_EVENT_WIDTH = 120


def tier_rank(tier: str) -> int:
    return TIER_ORDER.get(tier, len(TIER_ORDER))


def is_access(line: LogLine) -> bool:
    return all(
        line.get(key) is not None for key in ("status", "duration_ms", "method", "path")
    ) and (
        line.get("target") is None  # a ServiceClient call line: the caller's view, not a span
    )


@dataclass
class Span:
    line: LogLine
    start: datetime
    end: datetime
    children: list[Span] = field(default_factory=list)
    events: list[LogLine] = field(default_factory=list)
    failing: bool = False

    @property
    def tier(self) -> str:
        return self.line.source.tier

    @property
    def status(self) -> int:
        return int(self.line.get("status"))

    @property
    def duration_ms(self) -> float:
        return float(self.line.get("duration_ms"))

    def contains(self, moment: datetime) -> bool:
        return self.start - _SLACK <= moment <= self.end + _SLACK

    def errors(self) -> list[LogLine]:
        return [e for e in self.events if level_rank(e.level or "info") >= 40 or e.get("error_id")]


@dataclass
class OtelSpan:
    """A span a tier's tracer wrote to its log (unifyops_core.tracing's ``log`` exporter)."""

    line: LogLine
    record: dict[str, Any]
    children: list[OtelSpan] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return parse_time(self.record.get("start")) or _when(self.line)


@dataclass
class Trace:
    identifier: str
    request_ids: list[str]
    roots: list[Span]
    # Lines of the request no span of their container was open for.
    orphans: list[LogLine]
    failing: Span | None
    # The OpenTelemetry traces the request's lines carry, and their spans as trees.
    trace_ids: list[str] = field(default_factory=list)
    otel_roots: list[OtelSpan] = field(default_factory=list)

    def spans(self) -> list[Span]:
        found: list[Span] = []
        stack = list(reversed(self.roots))
        while stack:
            span = stack.pop()
            found.append(span)
            stack.extend(reversed(span.children))
        return found


def request_ids_for(identifier: str, lines: Iterable[LogLine]) -> list[str]:
    """The request ids ``identifier`` leads to: itself when lines carry it as a request id,
    else the request ids of the lines that carry it as an error id or a trace id."""
    found: list[str] = []
    matching = [line for line in lines if line.matches(identifier)]
    if any(line.get("request_id") == identifier for line in matching):
        return [identifier]
    for line in sorted(matching, key=_when):
        request_id = line.get("request_id")
        if isinstance(request_id, str) and request_id not in found:
            found.append(request_id)
    return found


def _otel_record(line: LogLine) -> dict[str, Any] | None:
    span = line.get("span")
    return span if isinstance(span, dict) and isinstance(span.get("span_id"), str) else None


def otel_tree(trace_ids: Iterable[str], lines: Iterable[LogLine]) -> list[OtelSpan]:
    """The spans of ``trace_ids`` as trees by their parent ids (a span whose parent was not
    logged, e.g. sampled out or the caller's own, is a root)."""
    wanted = set(trace_ids)
    by_id: dict[str, OtelSpan] = {}
    for line in lines:
        record = _otel_record(line)
        if record is not None and record.get("trace_id") in wanted:
            by_id.setdefault(record["span_id"], OtelSpan(line, record))
    roots: list[OtelSpan] = []
    for span in sorted(by_id.values(), key=lambda s: s.start):
        parent = by_id.get(span.record.get("parent_span_id") or "")
        (parent.children if parent else roots).append(span)
    return roots


def _when(line: LogLine) -> datetime:
    return line.time or datetime.min.replace(tzinfo=UTC)


def _span(line: LogLine) -> Span | None:
    end = line.time
    try:
        duration = float(line.get("duration_ms"))
        int(line.get("status"))
    except (TypeError, ValueError):
        return None
    if end is None:
        return None
    return Span(line, end - timedelta(milliseconds=duration), end)


def _parent(span: Span, placed: list[Span]) -> Span | None:
    """The span of the nearest tier in front that was open when ``span`` started; failing that,
    the latest-started such span (its line may be out of the searched window or imprecise)."""
    in_front = [p for p in placed if tier_rank(p.tier) < tier_rank(span.tier)]
    open_ = [p for p in in_front if p.contains(span.start)]
    candidates = open_ or [p for p in in_front if p.start <= span.start] or in_front
    if not candidates:
        return None
    return max(candidates, key=lambda p: (tier_rank(p.tier), p.start))


def _depth_first(roots: list[Span]) -> list[tuple[int, Span]]:
    found: list[tuple[int, Span]] = []
    stack = [(0, root) for root in reversed(roots)]
    while stack:
        depth, span = stack.pop()
        found.append((depth, span))
        stack.extend((depth + 1, child) for child in reversed(span.children))
    return found


def build_trace(identifier: str, lines: Iterable[LogLine]) -> Trace:
    """The tree of the request(s) ``identifier`` (a request, error or trace id) names."""
    every = list(lines)
    request_ids = request_ids_for(identifier, every)
    mine = [line for line in every if line.get("request_id") in request_ids]
    mine.sort(key=_when)
    spans = [s for s in (_span(line) for line in mine if is_access(line)) if s is not None]
    spans.sort(key=lambda s: (s.start, tier_rank(s.tier)))
    roots: list[Span] = []
    placed: list[Span] = []
    for span in spans:
        parent = _parent(span, placed)
        (parent.children if parent else roots).append(span)
        placed.append(span)
    access = {id(s.line) for s in spans}
    orphans: list[LogLine] = []
    for line in mine:
        if id(line) in access:
            continue
        own = [s for s in spans if s.line.source == line.source]
        when = line.time
        holder = next((s for s in own if when and s.contains(when)), None)
        if holder is None and own:
            holder = min(own, key=lambda s: abs((s.end - when).total_seconds()) if when else 0)
        (holder.events if holder else orphans).append(line)
    failing = _failing(roots)
    if failing:
        failing.failing = True
    trace_ids = sorted(
        {t for line in mine if isinstance(t := line.get("trace_id"), str)}
        | ({identifier} if any(line.get("trace_id") == identifier for line in every) else set())
    )
    otel_roots = otel_tree(trace_ids, every)
    return Trace(identifier, request_ids, roots, orphans, failing, trace_ids, otel_roots)


def _failing(roots: list[Span]) -> Span | None:
    """The deepest hop that answered 5xx; with none, the deepest that logged an error (where a
    4xx was decided: the core writes every rejection's ``error_id``)."""
    spans = _depth_first(roots)
    candidates = [(d, s) for d, s in spans if s.status >= 500] or [
        (d, s) for d, s in spans if s.errors()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda pair: (pair[0], pair[1].start))[1]


def _notable(line: LogLine) -> bool:
    return level_rank(line.level or "info") >= 30 or bool(line.get("error_id"))


def _event_text(line: LogLine) -> str:
    message = line.message.splitlines()[0] if line.message else ""
    if len(message) > _EVENT_WIDTH:
        message = message[: _EVENT_WIDTH - 1] + "…"
    parts = [f"{(line.level or 'line').upper()} {message}"]
    error_id = line.get("error_id")
    if error_id:
        parts.append(f"error_id={error_id}")
    exception = line.get("exception")
    if isinstance(exception, dict) and exception.get("type"):
        parts.append(f"({exception['type']})")
    return " ".join(parts)


def render(trace: Trace, *, all_events: bool = False) -> str:
    """The tree as text: one line per span (tier, container, method path, status, duration),
    its warning and error lines beneath it, the failing hop marked."""
    out = [f"request {', '.join(trace.request_ids)}"]
    spans = trace.spans()
    if spans:
        first = min(s.start for s in spans)
        out[0] += f" at {first.isoformat(timespec='milliseconds')}"
    out[0] += f": {len(spans)} span{'s' * (len(spans) != 1)}"
    for depth, span in _depth_first(trace.roots):
        indent = "   " * max(depth - 1, 0) + ("└─ " if depth else "")
        offset = (span.start - min(s.start for s in spans)).total_seconds() * 1000
        text = (
            f"{indent + span.tier:<20} {span.line.source.name:<20} {span.line.get('method')} "
            f"{span.line.get('path')}  {span.status}  {span.duration_ms:.1f} ms  "
            f"(+{offset:.1f} ms)"
        )
        if span.failing:
            text += "  <-- failing hop"
        out.append(text)
        pad = "   " * depth + "   "
        for event in span.events:
            if all_events or _notable(event):
                out.append(f"{pad}· {_event_text(event)}")
    for line in trace.orphans:
        if all_events or _notable(line):
            out.append(f"   · [{line.source.name}, outside any span] {_event_text(line)}")
    if trace.otel_roots:
        out.extend(_render_otel(trace))
    return "\n".join(out)


def _otel_depth_first(roots: list[OtelSpan]) -> list[tuple[int, OtelSpan]]:
    found: list[tuple[int, OtelSpan]] = []
    stack = [(0, root) for root in reversed(roots)]
    while stack:
        depth, span = stack.pop()
        found.append((depth, span))
        stack.extend((depth + 1, child) for child in reversed(span.children))
    return found


def _render_otel(trace: Trace) -> list[str]:
    spans = _otel_depth_first(trace.otel_roots)
    first = min(span.start for _, span in spans)
    out = [f"trace {', '.join(trace.trace_ids)}: {len(spans)} OpenTelemetry spans"]
    for depth, span in spans:
        record = span.record
        indent = "   " * max(depth - 1, 0) + ("└─ " if depth else "")
        offset = (span.start - first).total_seconds() * 1000
        statement = (record.get("attributes") or {}).get("db.statement")
        name = f"{record.get('name')}" + (f"  {statement}" if statement else "")
        if len(name) > _EVENT_WIDTH:
            name = name[: _EVENT_WIDTH - 1] + "…"
        status = "  ERROR" if record.get("status") == "error" else ""
        out.append(
            f"{indent + span.line.source.name:<24} {record.get('kind', ''):<8} {name}  "
            f"{float(record.get('duration_ms') or 0):.1f} ms  (+{offset:.1f} ms){status}"
        )
    return out


def _span_json(span: Span) -> dict[str, Any]:
    return {
        "tier": span.tier,
        "stack": span.line.source.stack,
        "container": span.line.source.name,
        "method": span.line.get("method"),
        "path": span.line.get("path"),
        "status": span.status,
        "duration_ms": span.duration_ms,
        "start": span.start.isoformat(),
        "end": span.end.isoformat(),
        "failing": span.failing,
        "events": [e.record if e.record is not None else e.raw for e in span.events],
        "children": [_span_json(child) for child in span.children],
    }


def _otel_json(span: OtelSpan) -> dict[str, Any]:
    return {
        "container": span.line.source.name,
        "stack": span.line.source.stack,
        "tier": span.line.source.tier,
        **{k: v for k, v in span.record.items() if k != "trace_id"},
        "children": [_otel_json(child) for child in span.children],
    }


def as_json(trace: Trace) -> dict[str, Any]:
    failing = trace.failing
    return {
        "id": trace.identifier,
        "request_ids": trace.request_ids,
        "failing": None
        if failing is None
        else {
            "tier": failing.tier,
            "container": failing.line.source.name,
            "status": failing.status,
        },
        "spans": [_span_json(root) for root in trace.roots],
        "orphans": [o.record if o.record is not None else o.raw for o in trace.orphans],
        "trace_ids": trace.trace_ids,
        "otel_spans": [_otel_json(root) for root in trace.otel_roots],
    }


__all__ = [
    "TIER_ORDER",
    "OtelSpan",
    "Span",
    "Trace",
    "as_json",
    "build_trace",
    "is_access",
    "otel_tree",
    "render",
    "request_ids_for",
    "tier_rank",
]
