// What every app's entry point does: the shared look, the session, the app, in strict mode.
import { StrictMode } from "react";
import type { ComponentType, ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { createApiClient } from "./api";
import { AuthProvider, useAuth } from "./auth";
import { Layout } from "./Layout";
import { SignIn } from "./SignIn";
import "./styles.css";

export function mountApp(App: ComponentType, element: HTMLElement = document.getElementById("root")!) {
  createRoot(element).render(
    <StrictMode>
      <AuthProvider api={createApiClient()}>
        <App />
      </AuthProvider>
    </StrictMode>,
  );
}

/** An app's frame: the shared layout, and the sign-in form until there is a session. */
export function AppFrame({ title, children }: { title: string; children: () => ReactNode }) {
  const auth = useAuth();
  let content: ReactNode;
  if (auth.token) content = children();
  else if (!auth.checked) content = <p>Checking your session…</p>;
  else content = <SignIn />;
  return (
    <Layout title={title} user={auth.email} onSignOut={() => void auth.logout()}>
      {content}
    </Layout>
  );
}
