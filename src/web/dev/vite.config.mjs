// `npm run dev` of every app (`vite --config ../dev/vite.config.mjs` in src/web/<stack>_app): the
// app's own vite.config.ts, plus a dev server whose /api/* goes where dev/proxy.mjs says. Kept out
// of the apps' configs so that the production bundle (and `uo affected`) never depend on it.
import { resolve } from "node:path";
import { loadConfigFromFile, mergeConfig } from "vite";
import { apiProxy, stackOf } from "./proxy.mjs";

/** The dev config of the app in ``root`` (src/web/<stack>_app), its proxy set from ``environ``. */
export async function devConfigFor(root, configEnv, environ = process.env) {
  const stack = stackOf(root);
  const own = await loadConfigFromFile(configEnv, resolve(root, "vite.config.ts"), root);
  const proxy = apiProxy(stack, environ);
  console.log(`${stack} app: /api/* → ${proxy.target}${proxy.rewrite ? " (gateway, /api stripped)" : ""}`);
  return mergeConfig(own ? own.config : {}, { root, server: { host: "127.0.0.1", proxy: { "/api": proxy } } });
}

export default (configEnv) => devConfigFor(process.cwd(), configEnv);
