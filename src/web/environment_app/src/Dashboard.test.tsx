import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AuthProvider, createApiClient } from "@unifyops/shared";
import { json, routedFetch } from "../../shared/src/testing";
import { Dashboard } from "./Dashboard";
import { age, shortDigest, shortTag } from "./model";

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

function fetcherFor(diff: unknown) {
  return routedFetch({
    "/api/v1/environments": [() => json(200, ENVIRONMENTS)],
    "/api/v1/deployments": [() => json(200, DEPLOYMENTS)],
    "/api/v1/promotions/diff": [() => json(200, diff)],
  });
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
});
