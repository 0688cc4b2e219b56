// The frame every app shares: product name, the app's title, who is signed in, and the content.
import type { ReactNode } from "react";

export interface LayoutProps {
  title: string;
  user?: string | null;
  onSignOut?: () => void;
  children: ReactNode;
}

export function Layout({ title, user, onSignOut, children }: LayoutProps) {
  return (
    <div className="uo-layout">
      <header className="uo-header">
        <span className="uo-brand">UnifyOps</span>
        <h1>{title}</h1>
        {user ? (
          <span className="uo-user">
            {user}
            {onSignOut ? (
              <button type="button" onClick={onSignOut}>
                Sign out
              </button>
            ) : null}
          </span>
        ) : null}
      </header>
      <main>{children}</main>
    </div>
  );
}

export function ErrorMessage({ error }: { error: { describe(): string } | null }) {
  if (!error) return null;
  return (
    <p role="alert" className="uo-error">
      {error.describe()}
    </p>
  );
}
