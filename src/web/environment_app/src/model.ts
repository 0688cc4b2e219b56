// The environment API's shapes, and the small derivations the dashboard shows.

export interface TierImage {
  tag: string | null;
  digest: string | null;
}

export interface StackState {
  stack: string;
  core_version: string | null;
  tiers: Record<string, TierImage>;
}

export interface Environment {
  name: string;
  namespace: string;
  domain: string | null;
  stacks: Record<string, StackState>;
}

export interface Deployment {
  id: string;
  environment: string;
  stack: string;
  tier: string;
  tag: string;
  digest: string | null;
  core_version: string | null;
  git_commit: string;
  actor: string;
  deployed_at: string;
}

export interface PromotionChange {
  stack: string;
  tier: string;
  source: string | null;
  target: string | null;
  changes: boolean;
}

/** What runs, from GET /v1/live: the tiers' own metrics, next to what infra wants. */
export type LiveStatus = "in_sync" | "drifted" | "degraded" | "running";

export interface LiveTier {
  status: LiveStatus;
  replicas: number;
  ready: number;
  images: string[];
  desired: string | null;
  core_versions: string[];
  requests_per_second: number;
  error_ratio: number | null;
  p99_seconds: number | null;
}

export interface LiveStack {
  tiers: Record<string, LiveTier>;
}

export interface LiveEnvironment {
  name: string;
  namespace: string;
  known: boolean;
  stacks: Record<string, LiveStack>;
}

export interface LiveState {
  prometheus: "ok" | "unavailable" | "not_configured";
  detail: string | null;
  environments: LiveEnvironment[];
}

/** One column of the dashboard: an environment, with what infra wants and what runs there. */
export interface Column {
  name: string;
  desired: Environment | null; // none for an environment only the tiers report (local, test)
  live: LiveEnvironment | null;
}

export const ENVIRONMENT_ORDER = ["dev", "staging", "prod"];

/** Infra's environments in promotion order, then those only the running tiers report. */
export function columns(environments: Environment[], live: LiveEnvironment[]): Column[] {
  const running = new Map(live.map((env) => [env.name, env]));
  const ordered = [...environments].sort(
    (a, b) => ENVIRONMENT_ORDER.indexOf(a.name) - ENVIRONMENT_ORDER.indexOf(b.name),
  );
  return [
    ...ordered.map((env) => ({ name: env.name, desired: env, live: running.get(env.name) ?? null })),
    ...live.filter((env) => !env.known).map((env) => ({ name: env.name, desired: null, live: env })),
  ];
}

/** Every stack of any column, wanted or running, by name. */
export function stacksOf(cols: Column[]): string[] {
  const names = cols.flatMap((col) => [
    ...Object.keys(col.desired?.stacks ?? {}),
    ...Object.keys(col.live?.stacks ?? {}),
  ]);
  return [...new Set(names)].sort();
}

/** Where a stack's app and api answer in an environment: the chart's Ingress hosts
 * (`<stack>.<domain>` and `api.<stack>.<domain>`, TLS on every cluster); none without a domain. */
export function stackLinks(env: Environment, stack: string): { app: string; api: string } | null {
  if (!env.domain) return null;
  return { app: `https://${stack}.${env.domain}/`, api: `https://api.${stack}.${env.domain}/` };
}

export function shortTag(tag: string | null): string {
  if (!tag) return "—";
  return /^[0-9a-f]{40}$/.test(tag) ? tag.slice(0, 8) : tag;
}

export function shortDigest(digest: string | null): string {
  return digest ? digest.replace(/^sha256:/, "").slice(0, 12) : "—";
}

/** An image at a glance: its short digest when pinned by one, else its tag. Takes what runs
 * (`registry/name:tag@sha256:…`) as well as what infra wants (a bare digest or tag). */
export function shortImage(ref: string | null): string {
  if (!ref) return "—";
  const digest = ref.indexOf("sha256:");
  if (digest >= 0) return shortDigest(ref.slice(digest));
  const last = ref.slice(ref.lastIndexOf("/") + 1);
  return shortTag(last.slice(last.indexOf(":") + 1));
}

export function statusLabel(status: LiveStatus): string {
  return status.replace("_", " ");
}

export function requestRate(perSecond: number): string {
  return `${perSecond.toFixed(2)} req/s`;
}

/** The share of 5xx answers; none to share without requests. */
export function errorShare(ratio: number | null): string {
  return ratio === null ? "— 5xx" : `${(ratio * 100).toFixed(1)} % 5xx`;
}

export function p99(seconds: number | null): string {
  return seconds === null ? "p99 —" : `p99 ${Math.round(seconds * 1000)} ms`;
}

/** Where the running side comes from, or why there is none. */
export function liveSummary({ prometheus, detail }: Pick<LiveState, "prometheus" | "detail">): string {
  if (prometheus === "ok") return "Live: from Prometheus";
  if (prometheus === "not_configured") return "Live state: not configured (no Prometheus URL)";
  return detail ? `Live state unavailable: ${detail}` : "Live state unavailable";
}

/** "3 h", "2 d": how long ago, at a glance. */
export function age(iso: string, now: Date = new Date()): string {
  const seconds = Math.max(0, (now.getTime() - new Date(iso).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** The newest deployment of each (environment, stack). */
export function latestDeployments(deployments: Deployment[]): Map<string, Deployment> {
  const latest = new Map<string, Deployment>();
  for (const deployment of deployments) {
    const key = `${deployment.environment}/${deployment.stack}`;
    const seen = latest.get(key);
    if (!seen || seen.deployed_at < deployment.deployed_at) latest.set(key, deployment);
  }
  return latest;
}
