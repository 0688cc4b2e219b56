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

export const ENVIRONMENT_ORDER = ["dev", "staging", "prod"];

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
