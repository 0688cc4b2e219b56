import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AuthProvider, createApiClient } from "@unifyops/shared";
import { json, routedFetch, tokenFor } from "../../shared/src/testing";
import { App } from "./App";

function renderWith(fetcher: ReturnType<typeof routedFetch>) {
  render(
    <AuthProvider api={createApiClient("/api", fetcher)}>
      <App />
    </AuthProvider>,
  );
}

async function fill(email: string, password: string) {
  fireEvent.change(await screen.findByLabelText("Email"), { target: { value: email } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: password } });
}

describe("the sign-in page", () => {
  it("shows the server's message and error id for a wrong password", async () => {
    renderWith(
      routedFetch({
        "/api/v1/auth/login": [
          () =>
            json(401, {
              status_code: 401,
              message: "Invalid email or password",
              error_id: "7f3c",
              error_type: "authentication_failed",
            }),
        ],
      }),
    );
    await fill("ada@example.com", "not the password");
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "Invalid email or password (error id 7f3c)",
    );
  });

  it("signs in and says who is signed in", async () => {
    const fetcher = routedFetch({
      "/api/v1/auth/login": [() => json(200, { access_token: tokenFor("ada@example.com"), expires_in: 900 })],
    });
    renderWith(fetcher);
    await fill("ada@example.com", "a long enough passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("status")).textContent).toMatch(/signed in as ada@example.com/);
  });

  it("shows field errors from a validation failure, then registers", async () => {
    renderWith(
      routedFetch({
        "/api/v1/auth/register": [
          () =>
            json(422, {
              status_code: 422,
              message: "Validation failed",
              error_id: "v1",
              error_type: "validation_error",
              details: { errors: [{ loc: ["body", "email"], msg: "value is not a valid email address" }] },
            }),
          () => json(201, { subject: "s" }),
        ],
      }),
    );
    fireEvent.click(await screen.findByRole("button", { name: "Create an account" }));
    await fill("ada@example.com", "a long enough passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("value is not a valid email address")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect((await screen.findByRole("status")).textContent).toMatch(/Account created/);
  });
});
