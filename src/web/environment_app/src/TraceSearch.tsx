// The error-id search: paste an error id from an error response (or a request or trace id) and
// see the request as a tree across tiers — each hop's status, duration and start, its warning and
// error lines, the failing hop marked — the `uo trace` view, from GET /v1/traces/{id}.
import { useEffect, useState } from "react";
import { ApiError, ErrorMessage, useAuth } from "@unifyops/shared";
import type { ApiClient } from "@unifyops/shared";
import { TRACE_ID, eventText, failingSummary, flatten } from "./trace";
import type { TraceView } from "./trace";

export function TraceSearch({ api, initial = "" }: { api: ApiClient; initial?: string }) {
  const { token } = useAuth();
  const [text, setText] = useState(initial);
  const [searched, setSearched] = useState(initial);
  const [view, setView] = useState<TraceView | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const invalid = text.trim() !== "" && !TRACE_ID.test(text.trim());

  useEffect(() => {
    if (!searched) return;
    let current = true;
    setBusy(true);
    setView(null);
    setError(null);
    api
      .request<TraceView>(`/v1/traces/${encodeURIComponent(searched)}?since=1h`, { token })
      .then((response) => current && setView(response.data))
      .catch((caught) => current && setError(caught as ApiError))
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  }, [api, token, searched]);

  return (
    <section aria-label="Find a request">
      <h2>Find a request</h2>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!invalid && text.trim()) setSearched(text.trim());
        }}
      >
        <label>
          Error, request or trace id{" "}
          <input
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="e.g. the error_id of an error response"
            aria-invalid={invalid}
            size={40}
          />
        </label>{" "}
        <button type="submit" disabled={invalid || !text.trim() || busy}>
          Find
        </button>
        {invalid ? <p role="alert">Not an id: letters, digits and . _ : - only.</p> : null}
      </form>
      {busy ? <p>Searching the last hour of every tier's log…</p> : null}
      <ErrorMessage error={error} />
      {view ? <TraceTree view={view} /> : null}
    </section>
  );
}

/** The badge colour of a hop: the failing one red, another error amber, the rest green. */
function hopStatus(status: number | null, failing: boolean): string {
  if (failing) return "degraded";
  return status !== null && status >= 400 ? "drifted" : "in_sync";
}

/** ``?trace=<id>`` in the page's address: a link to the search (e.g. from an error report). */
export function traceFromAddress(search: string = window.location.search): string {
  const id = new URLSearchParams(search).get("trace") ?? "";
  return TRACE_ID.test(id) ? id : "";
}

function TraceTree({ view }: { view: TraceView }) {
  const rows = flatten(view.spans);
  return (
    <div aria-label={`Request ${view.request_ids.join(", ")}`} className="uo-trace">
      <p>
        Request <code>{view.request_ids.join(", ")}</code> · {rows.length} hops ·{" "}
        <strong>{failingSummary(view)}</strong>
      </p>
      <ol className="uo-trace-hops">
        {rows.map(({ span, depth, offsetMs }, index) => (
          <li
            key={index}
            data-tier={span.tier}
            data-failing={span.failing}
            style={{ paddingLeft: `${depth * 1.5}em` }}
          >
            <code>{span.container}</code> {span.method ?? ""} {span.path ?? ""} →{" "}
            <span className="uo-badge" data-status={hopStatus(span.status, span.failing)}>
              {span.status ?? "?"}
            </span>{" "}
            {span.duration_ms.toFixed(1)} ms (+{offsetMs.toFixed(0)} ms)
            {span.failing ? <strong> ← failing hop</strong> : null}
            {span.events.length > 0 ? (
              <ul>
                {span.events.map((event, i) => (
                  <li key={i}>{eventText(event)}</li>
                ))}
              </ul>
            ) : null}
          </li>
        ))}
      </ol>
    </div>
  );
}
