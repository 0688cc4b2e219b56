import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AuthProvider, createApiClient } from "@unifyops/shared";
import { json, routedFetch } from "../../shared/src/testing";
import { Profile } from "./Profile";

const PROFILE = {
  subject: "s1",
  email: "ada@example.com",
  display_name: "ada",
  timezone: "UTC",
  version: 1,
  updated_at: "2026-11-28T06:00:00Z",
};

function renderProfile(fetcher: ReturnType<typeof routedFetch>) {
  const api = createApiClient("/api", fetcher);
  render(
    <AuthProvider api={api}>
      <Profile api={api} />
    </AuthProvider>,
  );
}

describe("the profile page", () => {
  it("saves with the version it read", async () => {
    const fetcher = routedFetch({
      "/api/v1/profile": [
        () => json(200, PROFILE, { ETag: '"v1"' }),
        () => json(200, { ...PROFILE, display_name: "Ada", version: 2 }, { ETag: '"v2"' }),
      ],
    });
    renderProfile(fetcher);
    fireEvent.change(await screen.findByLabelText("Display name"), { target: { value: "Ada" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("status")).textContent).toBe("Saved.");
    const [url, init] = fetcher.mock.calls.filter(([u]) => u === "/api/v1/profile").at(-1)!;
    expect(url).toBe("/api/v1/profile");
    expect(init!.method).toBe("PATCH");
    expect((init!.headers as Record<string, string>)["If-Match"]).toBe('"v1"');
    expect(JSON.parse(init!.body as string)).toEqual({ display_name: "Ada", timezone: "UTC" });
    expect(screen.getByText(/version 2/)).toBeTruthy();
  });

  it("explains a conflict and shows the version someone else saved", async () => {
    renderProfile(
      routedFetch({
        "/api/v1/profile": [
          () => json(200, PROFILE, { ETag: '"v1"' }),
          () =>
            json(412, {
              status_code: 412,
              message: "The profile changed since you read it",
              error_id: "c1",
              error_type: "precondition_failed",
            }),
          () => json(200, { ...PROFILE, display_name: "Grace", version: 3 }, { ETag: '"v3"' }),
        ],
      }),
    );
    fireEvent.change(await screen.findByLabelText("Display name"), { target: { value: "Ada" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("status")).textContent).toMatch(/changed elsewhere/);
    expect((screen.getByLabelText("Display name") as HTMLInputElement).value).toBe("Grace");
    expect(screen.getByText(/version 3/)).toBeTruthy();
  });
});
