// The three apps in headless Chromium (Debian's, driven by playwright-core), against a running
// environment (tests/e2e starts one and passes the URLs): sign-in errors, register, sign in,
// edit the profile in the user app (the session follows through the httpOnly cookie), the
// dashboard refused to a fresh account (a member), then shown to the operator (an admin) with
// every environment and its versions, and this environment's own column of what runs (from its
// Prometheus), and a failed request found by its error id (the search). Screenshots go to
// $UO_SCREENSHOT_DIR.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const AUTH_APP = process.env.UO_AUTH_APP;
const USER_APP = process.env.UO_USER_APP;
const ENVIRONMENT_APP = process.env.UO_ENVIRONMENT_APP;
const SHOTS = process.env.UO_SCREENSHOT_DIR ?? "screenshots";
// The environment's bootstrap operator (an admin): only roles with environments:read see the dashboard.
const OPERATOR_EMAIL = process.env.UO_OPERATOR_EMAIL;
const OPERATOR_PASSWORD = process.env.UO_OPERATOR_PASSWORD;
const EMAIL = `browser-${Date.now()}@example.com`;
const PASSWORD = "a long enough passphrase";
// Two of the dashboard's 30 s refreshes: Prometheus may not have scraped the tiers at first load.
const LIVE_TIMEOUT = 65_000;
// Headless without reaching any outside host (see shared/ENVIRONMENT.md of the project).
const FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];

let browser;
let page;

before(async () => {
  assert.ok(AUTH_APP && USER_APP && ENVIRONMENT_APP, "UO_AUTH_APP, UO_USER_APP and UO_ENVIRONMENT_APP must be set");
  assert.ok(OPERATOR_EMAIL && OPERATOR_PASSWORD, "UO_OPERATOR_EMAIL and UO_OPERATOR_PASSWORD must be set");
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.UO_CHROMIUM ?? "/usr/bin/chromium", args: FLAGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
});

test("a wrong password shows the server's message with its error id", async () => {
  await page.goto(AUTH_APP);
  await page.getByLabel("Email").fill("nobody@example.com");
  await page.getByLabel("Password").fill("not the right one");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /Invalid email or password \(error id [0-9a-f-]{36}\)/);
  await page.screenshot({ path: join(SHOTS, "login-error.png") });
});

test("register, then sign in", async () => {
  await page.goto(AUTH_APP);
  await page.screenshot({ path: join(SHOTS, "login.png") });
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("Account created").waitFor();
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`You are signed in as ${EMAIL}`).waitFor();
  const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
  assert.equal(stored, 0, "no token may be kept in web storage");
  const cookies = await page.context().cookies();
  const session = cookies.find((cookie) => cookie.name === "uo_refresh");
  assert.ok(session?.httpOnly, "the refresh token lives in an httpOnly cookie");
  assert.equal(await page.evaluate(() => document.cookie), "", "script cannot read it");
});

test("the user app resumes the session and saves a profile change", async () => {
  await page.goto(USER_APP);
  const name = page.getByLabel("Display name");
  await name.waitFor();
  await name.fill("Ada Lovelace");
  await page.getByLabel("Time zone").fill("Europe/London");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  await page.reload();
  await page.getByLabel("Display name").waitFor();
  assert.equal(await page.getByLabel("Display name").inputValue(), "Ada Lovelace");
  await page.screenshot({ path: join(SHOTS, "profile.png") });
});

test("a fresh account is refused the dashboard with the server's reason", async () => {
  await page.goto(ENVIRONMENT_APP);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /\(error id [0-9a-f-]{36}\)/);
  await page.screenshot({ path: join(SHOTS, "dashboard-refused.png") });
});

test("the operator signs in and the dashboard shows every environment with its versions and what runs", async () => {
  await page.goto(AUTH_APP);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").fill(OPERATOR_EMAIL);
  await page.getByLabel("Password").fill(OPERATOR_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`You are signed in as ${OPERATOR_EMAIL}`).waitFor();
  await page.goto(ENVIRONMENT_APP);
  const table = page.getByRole("table", { name: "Environments" });
  await table.waitFor();
  // infra's environments first; this one ("test", unknown to infra) follows once Prometheus reports it.
  const headers = await table.locator("thead th").allTextContents();
  assert.deepEqual(headers.slice(0, 4), ["Stack", "dev", "staging", "prod"]);
  const rows = await table.locator("tbody th").allTextContents();
  assert.deepEqual(rows, ["auth", "environment", "user"]);
  const cell = await table.locator('[data-cell="prod/user"]').textContent();
  assert.match(cell, /api\s*[0-9a-f]{8}/);
  assert.match(cell, /core \d+\.\d+\.\d+/);
  // Each cell links the stack's app and api at the environment's Ingress hosts.
  const appLink = table.getByRole("link", { name: "user app in prod" });
  assert.equal(await appLink.getAttribute("href"), "https://user.unifyops.internal/");
  await page.getByText(/refreshes every 30 s/).waitFor();
  await page.getByRole("region", { name: "Promotion" }).getByText(/→/).first().waitFor();
  await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  await table.locator("thead th", { hasText: "test (this environment)" }).waitFor({ timeout: LIVE_TIMEOUT });
  // This environment's own tiers, as its Prometheus sees them: infra wants nothing here, so "running".
  const here = table.locator('[data-cell="test/user"]');
  await here.locator('[data-status="running"][aria-label="user api in test: running"]').waitFor({ timeout: LIVE_TIMEOUT });
  assert.match(await here.textContent(), /\d+\/\d+ ready/);
  await page.screenshot({ path: join(SHOTS, "dashboard-live.png"), fullPage: true });
});

test("the operator finds a failed request by its error id: the tree across tiers, failing hop marked", async () => {
  // A request the user app's gateway rejects (no session): its error response names the error id.
  const failed = await fetch(`${USER_APP}/api/v1/profile`);
  assert.equal(failed.status, 401);
  const { error_id: errorId } = await failed.json();
  assert.match(errorId, /^[0-9a-f-]{36}$/);
  const search = page.getByRole("region", { name: "Find a request" });
  await search.getByLabel("Error, request or trace id").fill(errorId);
  await search.getByRole("button", { name: "Find" }).click();
  // edge → app → api; the api rejected it, so it is the failing hop, with its error line.
  const failing = search.locator('li[data-tier="api"][data-failing="true"]');
  await failing.waitFor();
  assert.match(await failing.textContent(), new RegExp(`error ${errorId}`));
  const tiers = await search.locator("li[data-tier]").evaluateAll((items) => items.map((li) => li.dataset.tier));
  assert.deepEqual(tiers, ["edge", "app", "api"]);
  assert.match(await search.textContent(), /Failing hop: api \(user-api\), answered 401/);
  await search.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(SHOTS, "dashboard-trace.png"), fullPage: true });
});
