import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AuthProvider, createApiClient } from "@unifyops/shared";
import { json, routedFetch } from "../../shared/src/testing";
import { Dashboard } from "./Dashboard";
import {
  age,
  columns,
  errorShare,
  liveSummary,
  p99,
  requestRate,
  shortDigest,
  shortImage,
  shortTag,
  stacksOf,
  statusLabel,
} from "./model";
import type { LiveState, LiveStatus, LiveTier } from "./model";

const SHA = "536a01d1fc36f2124a24497b6cfa8d20d0e8bf1a";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const NOW = new Date("2026-11-28T12:00:00Z");

function stack(name: string, tag: string, digest: string | null) {
  return {
    stack: name,
    core_version: "0.1.0",
    tiers: { api: { tag, digest }, service: { tag, digest } },
  };
}

const ENVIRONMENTS = [
  {
    name: "prod",
    namespace: "uo-prod",
    domain: "unifyops.internal",
    stacks: { user: stack("user", SHA, DIGEST) },
  },
  { name: "dev", namespace: "uo-dev", domain: null, stacks: { user: stack("user", "v2", null) } },
];
const DEPLOYMENTS = [
  {
    id: "d1", environment: "prod", stack: "user", tier: "api", tag: SHA, digest: DIGEST,
    core_version: "0.1.0", git_commit: "abc1234", actor: "deployer", deployed_at: "2026-11-28T09:00:00Z",
  },
];

const OTHER_DIGEST = `sha256:${"cd".repeat(32)}`;
const NOT_CONFIGURED: LiveState = { prometheus: "not_configured", detail: null, environments: [] };

function tier(status: LiveStatus, overrides: Partial<LiveTier> = {}): LiveTier {
  return {
    status,
    replicas: 1,
    ready: 1,
    images: [`registry/unifyops/user-api@${DIGEST}`],
    desired: DIGEST, // infra's pin: a digest, else a tag
    core_versions: ["0.1.0"],
    requests_per_second: 0.53,
    error_ratio: 0.0,
    p99_seconds: 0.012,
    ...overrides,
  };
}

// dev runs its api as wanted but another service image; test is known only to its own tiers.
const LIVE: LiveState = {
  prometheus: "ok",
  detail: null,
  environments: [
    {
      name: "dev",
      namespace: "uo-dev",
      known: true,
      stacks: {
        user: {
          tiers: {
            api: tier("in_sync"),
            service: tier("drifted", {
              images: [`registry/unifyops/user-service@${OTHER_DIGEST}`],
              desired: "v2",
              requests_per_second: 0,
              error_ratio: null,
              p99_seconds: null,
            }),
          },
        },
      },
    },
    {
      name: "test",
      namespace: "uo-test",
      known: false,
      stacks: { user: { tiers: { api: tier("running", { desired: null }) } } },
    },
  ],
};

function fetcherFor(diff: unknown, live: () => Response = () => json(200, NOT_CONFIGURED)) {
  return routedFetch({
    "/api/v1/environments": [() => json(200, ENVIRONMENTS)],
    "/api/v1/deployments": [() => json(200, DEPLOYMENTS)],
    "/api/v1/promotions/diff": [() => json(200, diff)],
    "/api/v1/live": [live],
  });
}

function renderDashboard(fetcher: ReturnType<typeof routedFetch>) {
  const api = createApiClient("/api", fetcher);
  render(
    <AuthProvider api={api}>
      <Dashboard api={api} now={NOW} />
    </AuthProvider>,
  );
  return screen.findByRole("table", { name: "Environments" });
}

describe("the dashboard", () => {
  it("shows environments in promotion order with short tags, digests, core and age", async () => {
    const api = createApiClient("/api", fetcherFor({ changes: [] }));
    render(
      <AuthProvider api={api}>
        <Dashboard api={api} now={NOW} />
      </AuthProvider>,
    );
    const table = await screen.findByRole("table", { name: "Environments" });
    const headers = within(table).getAllByRole("columnheader").map((th) => th.textContent);
    expect(headers).toEqual(["Stack", "dev", "prod"]);
    const prod = table.querySelector('[data-cell="prod/user"]')!;
    expect(prod.textContent).toContain("536a01d1");
    expect(prod.textContent).toContain("abababababab");
    expect(prod.textContent).toContain("core 0.1.0");
    expect(prod.textContent).toContain("deployed 3 h ago");
    expect(table.querySelector('[data-cell="dev/user"]')!.textContent).toContain("no deployment recorded");
    // Links where the environment has a domain (the chart's Ingress hosts); none without one.
    const appLink = screen.getByRole("link", { name: "user app in prod" });
    expect(appLink.getAttribute("href")).toBe("https://user.unifyops.internal/");
    const apiLink = screen.getByRole("link", { name: "user api in prod" });
    expect(apiLink.getAttribute("href")).toBe("https://api.user.unifyops.internal/");
    expect(screen.queryByRole("link", { name: "user app in dev" })).toBeNull();
  });

  it("opens a stack's history and lists what a promotion would change", async () => {
    const diff = {
      changes: [
        { stack: "user", tier: "api", source: "v2", target: SHA, changes: true },
        { stack: "auth", tier: "api", source: "x", target: "x", changes: false },
      ],
    };
    const api = createApiClient("/api", fetcherFor(diff));
    render(
      <AuthProvider api={api}>
        <Dashboard api={api} now={NOW} />
      </AuthProvider>,
    );
    fireEvent.click(await screen.findByRole("button", { name: "user" }));
    const history = screen.getByRole("region", { name: "History of user" });
    expect(history.textContent).toContain("prod · api");
    const promotion = screen.getByRole("region", { name: "Promotion" });
    expect(await within(promotion).findByText(/user-api/)).toBeTruthy();
    expect(promotion.textContent).not.toContain("auth-api");
  });
});

describe("the running side", () => {
  it("puts a status badge, readiness and traffic under each tier it knows", async () => {
    const table = await renderDashboard(fetcherFor({ changes: [] }, () => json(200, LIVE)));
    expect(screen.getByLabelText("Live state").textContent).toBe("Live: from Prometheus");
    const badge = screen.getByLabelText("user api in dev: in sync");
    expect(badge.getAttribute("data-status")).toBe("in_sync");
    expect(badge.textContent).toBe("in sync");
    const dev = table.querySelector('[data-cell="dev/user"]')!;
    expect(dev.textContent).toContain("v2"); // the desired line stays
    expect(dev.textContent).toContain("1/1 ready · 0.53 req/s · 0.0 % 5xx · p99 12 ms");
    expect(dev.textContent).toContain("0.00 req/s · — 5xx · p99 —");
    // Nothing reports from prod: its cell is infra's side only.
    expect(table.querySelector('[data-cell="prod/user"] [data-status]')).toBeNull();
  });

  it("shows what runs next to what is wanted when a tier drifted", async () => {
    await renderDashboard(fetcherFor({ changes: [] }, () => json(200, LIVE)));
    const badge = screen.getByLabelText("user service in dev: drifted");
    expect(badge.getAttribute("data-status")).toBe("drifted");
    const drift = badge.parentElement!.nextElementSibling!;
    expect(drift.textContent).toBe("runs cdcdcdcdcdcd, wants v2");
    const [running, wanted] = drift.querySelectorAll("code");
    expect(running.getAttribute("title")).toBe(`registry/unifyops/user-service@${OTHER_DIGEST}`);
    expect(wanted.getAttribute("title")).toBe("v2");
  });

  it("gives an environment infra does not know its own column, with the live lines only", async () => {
    const table = await renderDashboard(fetcherFor({ changes: [] }, () => json(200, LIVE)));
    const headers = within(table).getAllByRole("columnheader").map((th) => th.textContent);
    expect(headers).toEqual(["Stack", "dev", "prod", "test (this environment)"]);
    const cell = table.querySelector('[data-cell="test/user"]')!;
    expect(screen.getByLabelText("user api in test: running").getAttribute("data-status")).toBe("running");
    expect(cell.textContent).toBe("apirunning 1/1 ready · 0.53 req/s · 0.0 % 5xx · p99 12 ms");
  });

  it("still shows what infra wants when the live answer fails, and says why", async () => {
    const unavailable = {
      status_code: 503,
      message: "Prometheus cannot be reached",
      error_id: "err-live",
      error_type: "dependency_unavailable",
      timestamp: "2026-11-28T12:00:00Z",
    };
    const table = await renderDashboard(fetcherFor({ changes: [] }, () => json(503, unavailable)));
    expect(table.querySelector('[data-cell="prod/user"]')!.textContent).toContain("536a01d1");
    expect(screen.getByLabelText("Live state").textContent).toBe(
      "Live state unavailable: Prometheus cannot be reached (error id err-live)",
    );
    expect(screen.queryByLabelText("Refresh failed")).toBeNull();
    expect(table.querySelector("[data-status]")).toBeNull();
  });
});

describe("refreshing", () => {
  it("picks up a new deployment by itself and keeps the last picture when a refresh fails", async () => {
    const later = [
      { ...ENVIRONMENTS[0], stacks: { user: stack("user", "v3", DIGEST) } },
      ENVIRONMENTS[1],
    ];
    const unavailable = {
      status_code: 503,
      message: "environment-api is unavailable",
      error_id: "err-503",
      error_type: "dependency_unavailable",
      timestamp: "2026-11-28T12:00:00Z",
    };
    const api = createApiClient(
      "/api",
      routedFetch({
        "/api/v1/environments": [
          () => json(200, ENVIRONMENTS),
          () => json(200, later),
          () => json(503, unavailable),
        ],
        "/api/v1/deployments": [() => json(200, DEPLOYMENTS)],
        "/api/v1/promotions/diff": [() => json(200, { changes: [] })],
        "/api/v1/live": [() => json(200, NOT_CONFIGURED)],
      }),
    );
    render(
      <AuthProvider api={api}>
        <Dashboard api={api} now={NOW} refreshSeconds={0.05} />
      </AuthProvider>,
    );
    // The first answer has the commit tag; only a refresh can bring v3.
    const table = await screen.findByRole("table", { name: "Environments" });
    expect(screen.getByText(/refreshes every 0.05 s/)).toBeTruthy();
    await waitFor(() =>
      expect(table.querySelector('[data-cell="prod/user"]')!.textContent).toContain("v3"),
    );
    const failed = await screen.findByLabelText("Refresh failed");
    expect(failed.textContent).toContain("environment-api is unavailable");
    expect(failed.textContent).toContain("err-503");
    // The table from the last good refresh is still there.
    expect(screen.getByRole("table", { name: "Environments" })).toBe(table);
    expect(table.querySelector('[data-cell="prod/user"]')!.textContent).toContain("v3");
  });
});

describe("formatting", () => {
  it("shortens commit tags and digests, and says ages at a glance", () => {
    expect(shortTag(SHA)).toBe("536a01d1");
    expect(shortTag("v1.2.3")).toBe("v1.2.3");
    expect(shortTag(null)).toBe("—");
    expect(shortDigest(DIGEST)).toBe("abababababab");
    expect(age("2026-11-28T11:59:30Z", NOW)).toBe("30 s");
    expect(age("2026-11-26T12:00:00Z", NOW)).toBe("2 d");
  });

  it("says what runs at a glance", () => {
    expect(shortImage(`registry/unifyops/user-api@${DIGEST}`)).toBe("abababababab");
    expect(shortImage(`registry:5000/unifyops/user-api:${SHA}`)).toBe("536a01d1");
    expect(shortImage(DIGEST)).toBe("abababababab");
    expect(shortImage("v2")).toBe("v2");
    expect(shortImage(null)).toBe("—");
    expect(statusLabel("in_sync")).toBe("in sync");
    expect(statusLabel("degraded")).toBe("degraded");
    expect(requestRate(0.5317)).toBe("0.53 req/s");
    expect(errorShare(0.0123)).toBe("1.2 % 5xx");
    expect(errorShare(null)).toBe("— 5xx");
    expect(p99(0.0124)).toBe("p99 12 ms");
    expect(p99(null)).toBe("p99 —");
  });

  it("says where the running side comes from, or why there is none", () => {
    expect(liveSummary({ prometheus: "ok", detail: null })).toBe("Live: from Prometheus");
    expect(liveSummary({ prometheus: "not_configured", detail: null })).toBe(
      "Live state: not configured (no Prometheus URL)",
    );
    expect(liveSummary({ prometheus: "unavailable", detail: "connection refused" })).toBe(
      "Live state unavailable: connection refused",
    );
  });

  it("orders infra's environments, then those only the tiers report", () => {
    const cols = columns(ENVIRONMENTS, LIVE.environments);
    expect(cols.map((col) => [col.name, Boolean(col.desired), Boolean(col.live)])).toEqual([
      ["dev", true, true],
      ["prod", true, false],
      ["test", false, true],
    ]);
    expect(stacksOf(cols)).toEqual(["user"]);
  });
});
