// The operator's daily picture: environments × stacks with what runs (tag, short digest), the
// core version and how long ago it was deployed; a stack's history; what a promotion would change.
// It refreshes itself every `refreshSeconds`; a failed refresh keeps the last picture and says so.
import { useEffect, useState } from "react";
import { ApiError, ErrorMessage, useAuth } from "@unifyops/shared";
import type { ApiClient } from "@unifyops/shared";
import {
  ENVIRONMENT_ORDER,
  age,
  latestDeployments,
  shortDigest,
  shortTag,
  stackLinks,
} from "./model";
import type { Deployment, Environment, PromotionChange } from "./model";

const TIERS = ["app", "api", "service"];
export const REFRESH_SECONDS = 30;

export function Dashboard({
  api,
  now,
  refreshSeconds = REFRESH_SECONDS,
}: {
  api: ApiClient;
  now?: Date;
  refreshSeconds?: number;
}) {
  const { token } = useAuth();
  const [environments, setEnvironments] = useState<Environment[] | null>(null);
  const [deployments, setDeployments] = useState<Deployment[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [updated, setUpdated] = useState<Date | null>(null);
  const [history, setHistory] = useState<string | null>(null);

  useEffect(() => {
    let current = true; // a response that arrives after unmount (or a token change) is dropped
    const load = () =>
      Promise.all([
        api.request<Environment[]>("/v1/environments", { token }),
        api.request<Deployment[]>("/v1/deployments?limit=200", { token }),
      ])
        .then(([envs, deploys]) => {
          if (!current) return;
          setEnvironments(envs.data);
          setDeployments(deploys.data);
          setUpdated(new Date());
          setError(null);
        })
        .catch((caught) => {
          if (current) setError(caught as ApiError);
        });
    load();
    const timer = setInterval(load, refreshSeconds * 1000);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [api, token, refreshSeconds]);

  if (!environments) return error ? <ErrorMessage error={error} /> : <p>Loading environments…</p>;
  const ordered = [...environments].sort(
    (a, b) => ENVIRONMENT_ORDER.indexOf(a.name) - ENVIRONMENT_ORDER.indexOf(b.name),
  );
  const stacks = [...new Set(ordered.flatMap((env) => Object.keys(env.stacks)))].sort();
  const latest = latestDeployments(deployments);

  return (
    <>
      <p className="uo-refreshed" aria-live="polite">
        {updated ? `Updated ${updated.toLocaleTimeString()}` : null} · refreshes every {refreshSeconds} s
      </p>
      {error ? (
        <div aria-label="Refresh failed">
          <p>The last refresh failed; showing the picture from before.</p>
          <ErrorMessage error={error} />
        </div>
      ) : null}
      <table aria-label="Environments">
        <thead>
          <tr>
            <th scope="col">Stack</th>
            {ordered.map((env) => (
              <th scope="col" key={env.name}>
                {env.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {stacks.map((stack) => (
            <tr key={stack}>
              <th scope="row">
                <button type="button" onClick={() => setHistory(stack)}>
                  {stack}
                </button>
              </th>
              {ordered.map((env) => {
                const state = env.stacks[stack];
                const deployed = latest.get(`${env.name}/${stack}`);
                return (
                  <td key={env.name} data-cell={`${env.name}/${stack}`}>
                    {state ? (
                      <>
                        {TIERS.filter((tier) => state.tiers[tier]).map((tier) => (
                          <div key={tier}>
                            <span className="uo-tier">{tier}</span>{" "}
                            <code>{shortTag(state.tiers[tier].tag)}</code>{" "}
                            <code title={state.tiers[tier].digest ?? ""}>
                              {shortDigest(state.tiers[tier].digest)}
                            </code>
                          </div>
                        ))}
                        <div>core {state.core_version ?? "—"}</div>
                        <StackLinks env={env} stack={stack} />
                        <div>{deployed ? `deployed ${age(deployed.deployed_at, now)} ago` : "no deployment recorded"}</div>
                      </>
                    ) : (
                      "—"
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {history ? (
        <History stack={history} deployments={deployments.filter((d) => d.stack === history)} now={now} />
      ) : null}
      <PromotionDiff api={api} />
    </>
  );
}

function StackLinks({ env, stack }: { env: Environment; stack: string }) {
  const links = stackLinks(env, stack);
  if (!links) return null;
  return (
    <div>
      <a href={links.app} aria-label={`${stack} app in ${env.name}`}>app</a> ·{" "}
      <a href={links.api} aria-label={`${stack} api in ${env.name}`}>api</a>
    </div>
  );
}

function History({ stack, deployments, now }: { stack: string; deployments: Deployment[]; now?: Date }) {
  return (
    <section aria-label={`History of ${stack}`}>
      <h2>History of {stack}</h2>
      {deployments.length === 0 ? (
        <p>No deployments recorded for {stack}.</p>
      ) : (
        <ol>
          {[...deployments]
            .sort((a, b) => b.deployed_at.localeCompare(a.deployed_at))
            .map((d) => (
              <li key={d.id}>
                {d.environment} · {d.tier} · <code>{shortTag(d.tag)}</code> · core {d.core_version ?? "—"} ·{" "}
                {d.actor} · {age(d.deployed_at, now)} ago
              </li>
            ))}
        </ol>
      )}
    </section>
  );
}

function PromotionDiff({ api }: { api: ApiClient }) {
  const { token } = useAuth();
  const [source, setSource] = useState("dev");
  const [target, setTarget] = useState("staging");
  const [changes, setChanges] = useState<PromotionChange[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    setChanges(null);
    setError(null);
    api
      .request<{ changes: PromotionChange[] }>(
        `/v1/promotions/diff?source=${source}&target=${target}`,
        { token },
      )
      .then((response) => setChanges(response.data.changes))
      .catch((caught) => setError(caught as ApiError));
  }, [api, token, source, target]);

  const differing = (changes ?? []).filter((change) => change.changes);
  return (
    <section aria-label="Promotion">
      <h2>
        Promote{" "}
        <select aria-label="from" value={source} onChange={(e) => setSource(e.target.value)}>
          {ENVIRONMENT_ORDER.map((env) => (
            <option key={env}>{env}</option>
          ))}
        </select>{" "}
        →{" "}
        <select aria-label="to" value={target} onChange={(e) => setTarget(e.target.value)}>
          {ENVIRONMENT_ORDER.map((env) => (
            <option key={env}>{env}</option>
          ))}
        </select>
      </h2>
      <ErrorMessage error={error} />
      {changes === null && !error ? <p>Comparing…</p> : null}
      {changes !== null && differing.length === 0 ? <p>Nothing would change.</p> : null}
      {differing.length > 0 ? (
        <ul>
          {differing.map((change) => (
            <li key={`${change.stack}/${change.tier}`}>
              {change.stack}-{change.tier}: <code>{shortTag(change.target)}</code> →{" "}
              <code>{shortTag(change.source)}</code>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
