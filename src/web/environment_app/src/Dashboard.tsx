// The operator's daily picture: environments × stacks with what infra wants (tag, short digest),
// the core version and how long ago it was deployed, and under it what runs (status, readiness,
// traffic, from GET /v1/live); a stack's history; what a promotion would change; and a search
// that shows one request across tiers by its error id (TraceSearch).
// It refreshes itself every `refreshSeconds`; a failed refresh keeps the last picture and says so.
import { Fragment, useEffect, useState } from "react";
import { ApiError, ErrorMessage, useAuth } from "@unifyops/shared";
import type { ApiClient } from "@unifyops/shared";
import {
  ENVIRONMENT_ORDER,
  age,
  columns,
  errorShare,
  latestDeployments,
  liveSummary,
  p99,
  requestRate,
  shortDigest,
  shortImage,
  shortTag,
  stackLinks,
  stacksOf,
  statusLabel,
} from "./model";
import type {
  Column,
  Deployment,
  Environment,
  LiveState,
  LiveTier,
  PromotionChange,
  TierImage,
} from "./model";
import { TraceSearch, traceFromAddress } from "./TraceSearch";
import "./Dashboard.css";

const TIERS = ["app", "api", "service"];
export const REFRESH_SECONDS = 30;

/** The last answer of GET /v1/live: the running side, or why there is none. */
type Live = { state: LiveState; error: null } | { state: null; error: ApiError };

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
  const [live, setLive] = useState<Live | null>(null);

  useEffect(() => {
    let current = true; // a response that arrives after unmount (or a token change) is dropped
    const load = () =>
      Promise.all([
        api.request<Environment[]>("/v1/environments", { token }),
        api.request<Deployment[]>("/v1/deployments?limit=200", { token }),
        // The running side is extra: when it fails, its own line says why and the rest still shows.
        api.request<LiveState>("/v1/live", { token }).then(
          (response): Live => ({ state: response.data, error: null }),
          (caught): Live => ({ state: null, error: caught as ApiError }),
        ),
      ])
        .then(([envs, deploys, running]) => {
          if (!current) return;
          setEnvironments(envs.data);
          setDeployments(deploys.data);
          setLive(running);
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
  const shown = columns(environments, live?.state?.environments ?? []);
  const stacks = stacksOf(shown);
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
      {live ? (
        <p aria-label="Live state">
          {liveSummary(live.state ?? { prometheus: "unavailable", detail: live.error.describe() })}
        </p>
      ) : null}
      <table aria-label="Environments">
        <thead>
          <tr>
            <th scope="col">Stack</th>
            {shown.map((column) => (
              <th scope="col" key={column.name}>
                {column.desired ? column.name : `${column.name} (this environment)`}
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
              {shown.map((column) => (
                <Cell
                  key={column.name}
                  column={column}
                  stack={stack}
                  deployed={latest.get(`${column.name}/${stack}`)}
                  now={now}
                />
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {history ? (
        <History stack={history} deployments={deployments.filter((d) => d.stack === history)} now={now} />
      ) : null}
      <PromotionDiff api={api} />
      <TraceSearch api={api} initial={traceFromAddress()} />
    </>
  );
}

/** One environment × stack: per tier what infra wants, then what runs; then core, links, age. */
function Cell({ column, stack, deployed, now }: {
  column: Column;
  stack: string;
  deployed?: Deployment;
  now?: Date;
}) {
  const env = column.desired;
  const state = env?.stacks[stack];
  const running = column.live?.stacks[stack]?.tiers;
  const tiers = TIERS.filter((tier) => state?.tiers[tier] || running?.[tier]);
  const cell = `${column.name}/${stack}`;
  if (!state && tiers.length === 0) return <td data-cell={cell}>—</td>;
  return (
    <td data-cell={cell}>
      {tiers.map((tier) => (
        <Fragment key={tier}>
          <div>
            <span className="uo-tier">{tier}</span>
            {state?.tiers[tier] ? <DesiredImage image={state.tiers[tier]} /> : null}
          </div>
          {running?.[tier] ? (
            <LiveLines live={running[tier]} label={`${stack} ${tier} in ${column.name}`} />
          ) : null}
        </Fragment>
      ))}
      {env && state ? (
        <>
          <div>core {state.core_version ?? "—"}</div>
          <StackLinks env={env} stack={stack} />
          <div>{deployed ? `deployed ${age(deployed.deployed_at, now)} ago` : "no deployment recorded"}</div>
        </>
      ) : null}
    </td>
  );
}

function DesiredImage({ image }: { image: TierImage }) {
  return (
    <>
      {" "}
      <code>{shortTag(image.tag)}</code> <code title={image.digest ?? ""}>{shortDigest(image.digest)}</code>
    </>
  );
}

/** What runs of one tier: a status badge, readiness and traffic; when drifted, what runs beside
 * what infra wants. */
function LiveLines({ live, label }: { live: LiveTier; label: string }) {
  const status = statusLabel(live.status);
  return (
    <>
      <div className="uo-live">
        <span className="uo-badge" data-status={live.status} aria-label={`${label}: ${status}`}>
          {status}
        </span>{" "}
        {live.ready}/{live.replicas} ready · {requestRate(live.requests_per_second)} ·{" "}
        {errorShare(live.error_ratio)} · {p99(live.p99_seconds)}
      </div>
      {live.status === "drifted" ? (
        <div className="uo-live">
          runs <code title={live.images.join("\n")}>{live.images.map(shortImage).join(", ")}</code>,{" "}
          wants{" "}
          <code title={live.desired ?? ""}>{shortImage(live.desired)}</code>
        </div>
      ) : null}
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
