// The shape of GET /v1/traces/{id} (the `uo trace --json` view) and what the search shows of it.

/** One hop of the request: an access line of a tier, with its notable lines and its callees. */
export interface TraceSpan {
  tier: string;
  stack: string;
  container: string;
  method: string | null;
  path: string | null;
  status: number | null;
  duration_ms: number;
  start: string;
  end: string;
  failing: boolean;
  events: Array<Record<string, unknown> | string>;
  children: TraceSpan[];
}

export interface TraceView {
  id: string;
  request_ids: string[];
  failing: { tier: string; container: string; status: number | null } | null;
  spans: TraceSpan[];
  orphans: Array<Record<string, unknown> | string>;
  trace_ids: string[];
}

/** Ids the tiers write: request ids (X-Request-ID), error ids, trace ids. */
export const TRACE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** One line per span, depth first: how far in, and when it started after the first one. */
export function flatten(roots: TraceSpan[]): Array<{ span: TraceSpan; depth: number; offsetMs: number }> {
  const starts = roots.map((root) => Date.parse(root.start));
  const origin = starts.length ? Math.min(...starts) : 0;
  const out: Array<{ span: TraceSpan; depth: number; offsetMs: number }> = [];
  const walk = (span: TraceSpan, depth: number) => {
    out.push({ span, depth, offsetMs: Math.max(0, Date.parse(span.start) - origin) });
    span.children.forEach((child) => walk(child, depth + 1));
  };
  roots.forEach((root) => walk(root, 0));
  return out;
}

/** An event (a log record of the hop, or a plain line) as one short text. */
export function eventText(event: Record<string, unknown> | string): string {
  if (typeof event === "string") return event;
  const level = typeof event.level === "string" ? event.level : "INFO";
  const message = String(event.message ?? event.event ?? "");
  const errorId = typeof event.error_id === "string" ? ` (error ${event.error_id})` : "";
  return `${level} ${message}${errorId}`;
}

export function failingSummary(view: TraceView): string {
  if (!view.failing) return "No hop failed.";
  const { tier, container, status } = view.failing;
  return `Failing hop: ${tier} (${container})${status ? `, answered ${status}` : ""}`;
}
