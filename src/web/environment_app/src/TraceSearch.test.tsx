import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AuthProvider, createApiClient } from "@unifyops/shared";
import { json, routedFetch } from "../../shared/src/testing";
import { TraceSearch, traceFromAddress } from "./TraceSearch";
import { eventText, failingSummary, flatten } from "./trace";
import type { TraceSpan, TraceView } from "./trace";

function span(tier: string, start: string, overrides: Partial<TraceSpan> = {}): TraceSpan {
  return {
    tier,
    stack: "user",
    container: `user-${tier}`,
    method: "GET",
    path: "/v1/profile",
    status: 200,
    duration_ms: 10,
    start,
    end: start,
    failing: false,
    events: [],
    children: [],
    ...overrides,
  };
}

const SERVICE = span("service", "2026-12-07T10:00:00.030Z", {
  status: 503,
  failing: true,
  events: [{ level: "ERROR", message: "database unavailable", error_id: "err-1" }, "a plain line"],
});
const VIEW: TraceView = {
  id: "err-1",
  request_ids: ["req-1"],
  failing: { tier: "service", container: "user-service", status: 503 },
  spans: [
    span("edge", "2026-12-07T10:00:00.000Z", {
      status: 503,
      children: [span("api", "2026-12-07T10:00:00.010Z", { status: 503, children: [SERVICE] })],
    }),
  ],
  orphans: [],
  trace_ids: [],
};

function renderSearch(routes: Parameters<typeof routedFetch>[0], initial = "") {
  const fetcher = routedFetch(routes);
  const api = createApiClient("/api", fetcher);
  render(
    <AuthProvider api={api}>
      <TraceSearch api={api} initial={initial} />
    </AuthProvider>,
  );
  return fetcher;
}

describe("the trace view model", () => {
  it("flattens the tree depth first with offsets from the first start", () => {
    expect(flatten(VIEW.spans).map(({ span: s, depth, offsetMs }) => [s.tier, depth, offsetMs])).toEqual([
      ["edge", 0, 0],
      ["api", 1, 10],
      ["service", 2, 30],
    ]);
    expect(flatten([])).toEqual([]);
  });

  it("says which hop failed, and renders events", () => {
    expect(failingSummary(VIEW)).toBe("Failing hop: service (user-service), answered 503");
    expect(failingSummary({ ...VIEW, failing: null })).toBe("No hop failed.");
    expect(eventText({ level: "ERROR", message: "boom", error_id: "e" })).toBe("ERROR boom (error e)");
    expect(eventText({ event: "listening" })).toBe("INFO listening");
    expect(eventText("plain")).toBe("plain");
  });

  it("reads ?trace= from the address, ignoring what is not an id", () => {
    expect(traceFromAddress("?trace=err-1")).toBe("err-1");
    expect(traceFromAddress("?trace=%3Cscript%3E")).toBe("");
    expect(traceFromAddress("")).toBe("");
  });
});

describe("the error-id search", () => {
  it("finds a request by its error id and marks the failing hop", async () => {
    const fetcher = renderSearch({ "/api/v1/traces/err-1": [() => json(200, VIEW)] });
    fireEvent.change(screen.getByLabelText(/Error, request or trace id/), { target: { value: " err-1 " } });
    fireEvent.click(screen.getByRole("button", { name: "Find" }));
    const tree = await screen.findByLabelText("Request req-1");
    expect(tree.textContent).toContain("Failing hop: service (user-service), answered 503");
    const hops = within(tree).getAllByRole("listitem").filter((li) => li.hasAttribute("data-tier"));
    expect(hops.map((li) => [li.dataset.tier, li.dataset.failing])).toEqual([
      ["edge", "false"],
      ["api", "false"],
      ["service", "true"],
    ]);
    expect(hops[2].textContent).toContain("ERROR database unavailable (error err-1)");
    expect(hops[2].textContent).toContain("(+30 ms)");
    const [url] = fetcher.mock.calls.find(([u]) => u.startsWith("/api/v1/traces/"))!;
    expect(url).toBe("/api/v1/traces/err-1?since=1h");
  });

  it("shows the uniform error when no line carries the id, and refuses what is not an id", async () => {
    renderSearch(
      {
        "/api/v1/traces/nothing": [
          () =>
            json(404, {
              status_code: 404,
              message: "no line of local since 10:00 carries 'nothing'",
              error_id: "e404",
              error_type: "not_found",
            }),
        ],
      },
      "nothing",
    );
    expect(await screen.findByText(/carries 'nothing'/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText(/Error, request or trace id/), { target: { value: "a b/../c" } });
    expect(screen.getByText(/Not an id/).getAttribute("role")).toBe("alert");
    expect((screen.getByRole("button", { name: "Find" }) as HTMLButtonElement).disabled).toBe(true);
  });
});
