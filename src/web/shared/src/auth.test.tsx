import { act, render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { createApiClient } from "./api";
import { AuthProvider, emailOf, useAuth } from "./auth";

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function tokenFor(email: string): string {
  const payload = btoa(JSON.stringify({ email, sub: "s1" })).replace(/=+$/, "");
  return `eyJhbGciOiJFUzI1NiJ9.${payload}.c2ln`;
}

const NO_SESSION = { status_code: 401, message: "No session", error_id: "n", error_type: "authentication_failed" };

function Probe({ onReady }: { onReady: (auth: ReturnType<typeof useAuth>) => void }) {
  const auth = useAuth();
  onReady(auth);
  return <span data-testid="who">{auth.checked ? auth.email ?? "nobody" : "checking"}</span>;
}

describe("AuthProvider", () => {
  it("resumes a session from the cookie on load (another app signed in, or a reload)", async () => {
    const fetcher = vi.fn().mockResolvedValue(json(200, { access_token: tokenFor("ada@example.com"), expires_in: 900 }));
    render(
      <AuthProvider api={createApiClient("/api", fetcher)}>
        <Probe onReady={() => undefined} />
      </AuthProvider>,
    );
    await waitFor(() => expect(screen.getByTestId("who").textContent).toBe("ada@example.com"));
    const [url, init] = fetcher.mock.calls[0];
    expect(url).toBe("/api/v1/auth/refresh");
    expect(JSON.parse(init.body)).toEqual({}); // the app server adds the cookie's token
  });

  it("keeps only the access token, renews it before expiry and signs out", async () => {
    vi.useFakeTimers();
    const fetcher = vi
      .fn()
      .mockResolvedValueOnce(json(401, NO_SESSION))
      .mockResolvedValueOnce(json(200, { access_token: tokenFor("ada@example.com"), expires_in: 900 }))
      .mockResolvedValueOnce(json(200, { access_token: tokenFor("ada+2@example.com"), expires_in: 900 }))
      .mockResolvedValueOnce(new Response(null, { status: 204 }));
    let auth!: ReturnType<typeof useAuth>;
    render(
      <AuthProvider api={createApiClient("/api", fetcher)}>
        <Probe onReady={(a) => (auth = a)} />
      </AuthProvider>,
    );
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(screen.getByTestId("who").textContent).toBe("nobody");
    await act(() => auth.login("ada@example.com", "a long enough passphrase"));
    expect(screen.getByTestId("who").textContent).toBe("ada@example.com");
    expect(window.localStorage.length + window.sessionStorage.length).toBe(0);

    await act(() => vi.advanceTimersByTimeAsync(900_000 - 60_000));
    expect(screen.getByTestId("who").textContent).toBe("ada+2@example.com");
    expect(fetcher.mock.calls[2][0]).toBe("/api/v1/auth/refresh");

    await act(() => auth.logout());
    expect(screen.getByTestId("who").textContent).toBe("nobody");
    expect(fetcher.mock.calls[3][0]).toBe("/api/v1/auth/logout");
    vi.useRealTimers();
  });

  it("reads the email claim for display and tolerates a malformed token", () => {
    expect(emailOf(tokenFor("grace@example.com"))).toBe("grace@example.com");
    expect(emailOf("not-a-jwt")).toBeNull();
  });

  it("refuses to be used outside a provider", () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
    expect(() => render(<Probe onReady={() => undefined} />)).toThrow(/AuthProvider/);
    spy.mockRestore();
  });
});
