// Who is signed in, for every app. The access token lives in memory only; the refresh token never
// reaches the page: the app server keeps it in an httpOnly, SameSite=Strict cookie (see
// src/python/uo_appserver). So a reload, or opening another UnifyOps app on the same host, resumes
// the session through a refresh, and script on the page cannot carry the long-lived credential
// away. The access token is renewed a minute before it expires.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import type { ApiClient } from "./api";

export interface AccessToken {
  access_token: string;
  expires_in: number;
}

export interface AuthState {
  token: string | null;
  email: string | null;
  /** False until the first attempt to resume a session has finished. */
  checked: boolean;
  login(email: string, password: string): Promise<void>;
  register(email: string, password: string): Promise<void>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);
const RENEW_BEFORE_EXPIRY_MS = 60_000;

/** The email claim of an access token, for display only (the gateways verify tokens). */
export function emailOf(token: string): string | null {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload)) as { email?: string };
    return claims.email ?? null;
  } catch {
    return null;
  }
}

export function AuthProvider({ api, children }: { api: ApiClient; children: ReactNode }) {
  const [token, setToken] = useState<string | null>(null);
  const [checked, setChecked] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const refresh = useCallback(async (): Promise<AccessToken | null> => {
    try {
      const response = await api.request<AccessToken>("/v1/auth/refresh", { method: "POST", body: {} });
      return response.data;
    } catch {
      return null; // no session, or it ended: sign in again
    }
  }, [api]);

  const accept = useCallback(
    (next: AccessToken | null) => {
      if (timer.current) clearTimeout(timer.current);
      setToken(next?.access_token ?? null);
      if (!next) return;
      const delay = Math.max(5_000, next.expires_in * 1000 - RENEW_BEFORE_EXPIRY_MS);
      timer.current = setTimeout(() => {
        void refresh().then(accept);
      }, delay);
    },
    [refresh],
  );

  useEffect(() => {
    let live = true;
    void refresh().then((resumed) => {
      if (!live) return;
      accept(resumed);
      setChecked(true);
    });
    return () => {
      live = false;
      if (timer.current) clearTimeout(timer.current);
    };
  }, [refresh, accept]);

  const value = useMemo<AuthState>(
    () => ({
      token,
      email: token ? emailOf(token) : null,
      checked,
      async login(address, password) {
        const response = await api.request<AccessToken>("/v1/auth/login", {
          method: "POST",
          body: { email: address, password },
        });
        accept(response.data);
      },
      async register(address, password) {
        await api.request("/v1/auth/register", { method: "POST", body: { email: address, password } });
      },
      async logout() {
        // Signing out locally must work even when the server cannot be reached.
        await api.request("/v1/auth/logout", { method: "POST", body: {} }).catch(() => undefined);
        accept(null);
      },
    }),
    [api, token, checked, accept],
  );

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth() needs an <AuthProvider> above it");
  return state;
}
