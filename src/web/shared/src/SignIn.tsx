// Register and sign in (every app signs in the same way), with the server's own messages (and error id) when something is wrong.
import { useState } from "react";
import type { FormEvent } from "react";
import { ApiError } from "./api";
import { useAuth } from "./auth";
import { ErrorMessage } from "./Layout";

export function SignIn() {
  const auth = useAuth();
  const [mode, setMode] = useState<"login" | "register">("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fields = error?.fieldErrors() ?? {};

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      if (mode === "register") {
        await auth.register(email, password);
        setNotice("Account created. Sign in with it now.");
        setMode("login");
      } else {
        await auth.login(email, password);
      }
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, { message: String(caught) }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} aria-label={mode === "login" ? "Sign in" : "Create account"}>
      <h2>{mode === "login" ? "Sign in" : "Create an account"}</h2>
      <label>
        Email
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
      </label>
      {fields.email ? <small className="uo-field-error">{fields.email}</small> : null}
      <label>
        Password
        <input
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          minLength={mode === "register" ? 12 : undefined}
        />
      </label>
      {fields.password ? <small className="uo-field-error">{fields.password}</small> : null}
      <ErrorMessage error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      <button type="submit" disabled={busy}>
        {mode === "login" ? "Sign in" : "Create account"}
      </button>
      <button type="button" onClick={() => setMode(mode === "login" ? "register" : "login")}>
        {mode === "login" ? "Create an account" : "I have an account"}
      </button>
    </form>
  );
}
