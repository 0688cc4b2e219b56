// One's own profile: read it (with its version), edit it, and when someone else saved first
// (the gateway answers 412 to a stale If-Match) say so and show what is there now.
import { useCallback, useEffect, useState } from "react";
import type { FormEvent } from "react";
import { ApiError, ErrorMessage, useAuth } from "@unifyops/shared";
import type { ApiClient } from "@unifyops/shared";

export interface ProfileData {
  subject: string;
  email: string;
  display_name: string;
  timezone: string;
  version: number;
  updated_at: string;
}

export function Profile({ api }: { api: ApiClient }) {
  const { token } = useAuth();
  const [profile, setProfile] = useState<ProfileData | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [draft, setDraft] = useState({ display_name: "", timezone: "" });
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    const response = await api.request<ProfileData>("/v1/profile", { token });
    setProfile(response.data);
    setEtag(response.headers.get("ETag"));
    setDraft({ display_name: response.data.display_name, timezone: response.data.timezone });
  }, [api, token]);

  useEffect(() => {
    load().catch((caught) => setError(caught as ApiError));
  }, [load]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice(null);
    try {
      const response = await api.request<ProfileData>("/v1/profile", {
        method: "PATCH",
        token,
        body: draft,
        headers: etag ? { "If-Match": etag } : {},
      });
      setProfile(response.data);
      setEtag(response.headers.get("ETag"));
      setNotice("Saved.");
    } catch (caught) {
      const failure = caught as ApiError;
      if (failure.status === 412) {
        await load();
        setNotice(
          "Your profile was changed elsewhere since you opened it. The latest version is shown " +
            "now; make your change again and save.",
        );
        return;
      }
      setError(failure);
    }
  }

  if (!profile) return error ? <ErrorMessage error={error} /> : <p>Loading your profile…</p>;
  return (
    <form onSubmit={save} aria-label="Profile">
      <p>
        {profile.email} · version {profile.version}
      </p>
      <label>
        Display name
        <input
          value={draft.display_name}
          onChange={(e) => setDraft({ ...draft, display_name: e.target.value })}
        />
      </label>
      <label>
        Time zone
        <input value={draft.timezone} onChange={(e) => setDraft({ ...draft, timezone: e.target.value })} />
      </label>
      <ErrorMessage error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      <button type="submit">Save</button>
    </form>
  );
}
