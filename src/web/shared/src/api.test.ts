import { describe, expect, it, vi } from "vitest";
import { ApiError, createApiClient } from "./api";

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

describe("createApiClient", () => {
  it("sends JSON with the bearer token to the same-origin /api prefix", async () => {
    const fetcher = vi.fn().mockResolvedValue(jsonResponse(200, { ok: true }, { ETag: '"v2"' }));
    const api = createApiClient("/api", fetcher);
    const result = await api.request<{ ok: boolean }>("/v1/profile", {
      method: "PATCH",
      body: { display_name: "Ada" },
      token: "t0k3n",
    });
    expect(result.data).toEqual({ ok: true });
    expect(result.headers.get("ETag")).toBe('"v2"');
    const [url, init] = fetcher.mock.calls[0];
    expect(url).toBe("/api/v1/profile");
    expect(init.method).toBe("PATCH");
    expect(init.headers.Authorization).toBe("Bearer t0k3n");
    expect(JSON.parse(init.body)).toEqual({ display_name: "Ada" });
  });

  it("turns the uniform error shape into an ApiError with the error id", async () => {
    const fetcher = vi.fn().mockResolvedValue(
      jsonResponse(401, {
        status_code: 401,
        message: "Invalid email or password",
        error_id: "4b1d",
        error_type: "authentication_failed",
      }),
    );
    const api = createApiClient("/api", fetcher);
    const error = await api.request("/v1/auth/login", { method: "POST", body: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(401);
    expect(error.errorType).toBe("authentication_failed");
    expect(error.describe()).toBe("Invalid email or password (error id 4b1d)");
  });

  it("reads field errors out of a validation failure", () => {
    const error = new ApiError(422, {
      message: "Validation failed",
      error_id: "e1",
      error_type: "validation_error",
      details: { errors: [{ loc: ["body", "email"], msg: "value is not a valid email address" }] },
    });
    expect(error.fieldErrors()).toEqual({ email: "value is not a valid email address" });
  });

  it("keeps the status line when the body is not JSON", async () => {
    const fetcher = vi.fn().mockResolvedValue(new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    const error = await createApiClient("/api", fetcher).request("/x").catch((e) => e);
    expect(error.status).toBe(502);
    expect(error.message).toBe("502 Bad Gateway");
    expect(error.errorId).toBeNull();
  });

  it("says the server cannot be reached when the network fails", async () => {
    const fetcher = vi.fn().mockRejectedValue(new TypeError("Failed to fetch"));
    const error = await createApiClient("/api", fetcher).request("/x").catch((e) => e);
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/cannot be reached/);
  });
});
