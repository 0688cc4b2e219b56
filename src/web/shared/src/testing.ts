// Test helpers shared by the apps' Vitest suites (not part of any bundle: only tests import it).
import { vi } from "vitest";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export const NO_SESSION = {
  status_code: 401,
  message: "No session",
  error_id: "no-session",
  error_type: "authentication_failed",
};

/** A JWT-shaped token whose payload carries ``email`` (unsigned: the page never verifies). */
export function tokenFor(email: string): string {
  const payload = btoa(JSON.stringify({ email, sub: "s1" })).replace(/=+$/, "");
  return `eyJhbGciOiJFUzI1NiJ9.${payload}.c2ln`;
}

/**
 * A fetch that answers by path: each path has a queue of responses (the last one repeats).
 * A session check on load answers "no session" unless the routes say otherwise.
 */
export function routedFetch(routes: Record<string, Array<() => Response>>) {
  const queues = new Map(Object.entries(routes).map(([path, answers]) => [path, [...answers]]));
  if (!queues.has("/api/v1/auth/refresh")) queues.set("/api/v1/auth/refresh", [() => json(401, NO_SESSION)]);
  return vi.fn(async (url: string, _init?: RequestInit) => {
    const path = url.split("?")[0];
    const queue = queues.get(path);
    if (!queue || queue.length === 0) throw new Error(`unexpected request to ${url}`);
    const answer = queue.length > 1 ? queue.shift()! : queue[0];
    return answer();
  });
}
