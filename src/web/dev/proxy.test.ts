// @vitest-environment node
// `npm run dev`: a real Vite dev server on an app's folder, its /api/* fetched through the proxy
// into a local HTTP stub that records what arrived.
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { createServer, type ViteDevServer } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiProxy, localPort, readRegistry, stackOf } from "./proxy.mjs";
import { devConfigFor } from "./vite.config.mjs";

const WEB = fileURLToPath(new URL("..", import.meta.url));

let stub: Server;
let stubUrl: string;

beforeAll(async () => {
  stub = createHttpServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      response.setHeader("Content-Type", "application/json");
      response.setHeader("Set-Cookie", "uo_refresh=r; Path=/api/v1/auth; HttpOnly; SameSite=Strict");
      response.end(JSON.stringify({ method: request.method, url: request.url, body }));
    });
  });
  await new Promise<void>((done) => stub.listen(0, "127.0.0.1", done));
  stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((done) => stub.close(() => done())));

async function devServer(stack: string, environ: Record<string, string>): Promise<ViteDevServer> {
  const config = await devConfigFor(`${WEB}${stack}_app`, { command: "serve", mode: "development" }, environ);
  const server = await createServer({ ...config, configFile: false, logLevel: "silent", server: { ...config.server, port: 0 } });
  await server.listen();
  return server;
}

function address(server: ViteDevServer): string {
  return `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}`;
}

describe("npm run dev", () => {
  it("forwards /api/* to the app server unchanged (it relays to the gateway as in production)", async () => {
    const server = await devServer("user", { UO_APP_URL: stubUrl });
    try {
      const response = await fetch(`${address(server)}/api/v1/profile?x=1`, { method: "PUT", body: '{"a":1}' });
      expect(await response.json()).toEqual({ method: "PUT", url: "/api/v1/profile?x=1", body: '{"a":1}' });
      expect(response.headers.get("set-cookie")).toContain("uo_refresh=r; Path=/api/v1/auth");
      const page = await (await fetch(`${address(server)}/`)).text();
      expect(page).toContain("/@react-refresh"); // the app's own config (React plugin) is kept
    } finally {
      await server.close();
    }
  });

  it("forwards to a gateway with /api stripped when UO_API_URL names one", async () => {
    const server = await devServer("environment", { UO_API_URL: stubUrl });
    try {
      const response = await fetch(`${address(server)}/api/v1/environments`);
      expect(await response.json()).toMatchObject({ method: "GET", url: "/v1/environments" });
    } finally {
      await server.close();
    }
  });

  it("defaults to the stack's app server on the loopback under `uo up`", () => {
    const { stacks, ports } = readRegistry();
    expect(stacks[0]).toBe("auth");
    stacks.forEach((stack, index) => {
      expect(apiProxy(stack, {}).target).toBe(`http://127.0.0.1:${ports.app + 100 * index}`);
    });
    expect(localPort(stacks[1], "api")).toBe(ports.api + 100);
  });

  it("knows the stack from the app's folder", () => {
    expect(stackOf("/repo/src/web/user_app")).toBe("user");
    expect(() => stackOf("/repo/src/web/shared")).toThrow("not an app folder");
    expect(() => apiProxy("nosuch", {})).toThrow("not in");
  });
});
