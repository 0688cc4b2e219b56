// Where `npm run dev` forwards an app's /api/* calls. Node built-ins only, so a Python test can run
// this file with plain `node` and hold its ports equal to uo.local.topology.host_port.
//
// Default: the stack's app server that `uo up` runs for environment local, on 127.0.0.1. It relays
// /api/* to the stack's gateway exactly as in production (the same code: session cookies, the
// uniform error shape, request ids), so the page in the dev server behaves as the deployed one.
// UO_APP_URL points at another app server; UO_API_URL at a gateway directly (the same variable
// the app server reads), with /api stripped as the app server strips it; then sign-in works but
// the refresh cookie does not exist (the app server makes it), so a reload asks to sign in again.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const REGISTRY = fileURLToPath(
  new URL("../../python/unifyops_core/stack_registry.py", import.meta.url),
);
// uo.local.topology.ENVIRONMENT_INDEX["local"] is 0: environment local adds nothing.
const STACK_STEP = 100;

/** The registry's stacks in order and its tier ports, read from the Python file as written. */
export function readRegistry(text = readFileSync(REGISTRY, "utf8")) {
  const block = (name) => {
    const match = text.match(new RegExp(`^${name} = \\(\\n([\\s\\S]*?)^\\)`, "m"));
    if (!match) throw new Error(`${REGISTRY}: no ${name} tuple`);
    return [...match[1].matchAll(/^\s+\(([^)]*)\),/gm)].map((m) =>
      m[1].split(",").map((part) => part.trim().replace(/^"(.*)"$/, "$1")),
    );
  };
  const stacks = block("UNIFYOPS_STACKS").map(([, stack]) => stack);
  const ports = Object.fromEntries(block("UNIFYOPS_TIERS").map(([tier, port]) => [tier, Number(port)]));
  return { stacks, ports };
}

/** A tier's loopback port under `uo up` for environment local (uo.local.topology.host_port). */
export function localPort(stack, tier, registry = readRegistry()) {
  const index = registry.stacks.indexOf(stack);
  if (index < 0) throw new Error(`stack ${stack} is not in ${REGISTRY}`);
  if (!(tier in registry.ports)) throw new Error(`tier ${tier} is not in ${REGISTRY}`);
  return registry.ports[tier] + STACK_STEP * index;
}

/** The `server.proxy` entry for /api of a stack's app. */
export function apiProxy(stack, env = process.env) {
  if (env.UO_API_URL) {
    return { target: env.UO_API_URL, changeOrigin: true, rewrite: (path) => path.replace(/^\/api(?=\/|$)/, "") || "/" };
  }
  const target = env.UO_APP_URL || `http://127.0.0.1:${localPort(stack, "app")}`;
  return { target, changeOrigin: true };
}

/** The stack an app folder (`<stack>_app`) belongs to. */
export function stackOf(folder) {
  const match = /(?:^|[\\/])([a-z][a-z0-9]*)_app[\\/]?$/.exec(folder);
  if (!match) throw new Error(`${folder} is not an app folder (src/web/<stack>_app)`);
  return match[1];
}
