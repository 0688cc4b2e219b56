"""The running side of the dashboard: what each tier's replicas report to Prometheus (build info,
readiness, traffic), set beside what infra/ wants.

Every series comes from the tiers' own metrics (unifyops_core.metrics) as the chart's PodMonitor
labels them (``namespace``, ``stack``, ``tier``; a replica is an ``instance``), so the same
queries answer on a cluster's Prometheus and on the one `uo up` runs. Six instant queries, sent
at once; Prometheus unreachable is a state of the answer, not an error of the request: the
dashboard still shows the desired side.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from unifyops.platform.environment.environment_service.schemas import (
    LiveEnvironment,
    LiveStack,
    LiveState,
    LiveStatus,
    LiveTier,
)
from unifyops_core.desired_state import EnvironmentState, TierImage
from unifyops_core.naming import IMAGE_TIERS

QUERY_TIMEOUT_SECONDS = 3.0
# Long enough for two scrapes at a cluster's 30 s interval; short enough to be "now".
WINDOW = "2m"
# Probes and scrapes are not traffic: they would be most of an idle tier's rate.
TRAFFIC = 'route!~"/health/.*"'
BY = "namespace, stack, tier"
QUERIES = {
    "info": 'uo_build_info{stack!="", tier!=""}',
    "up": 'up{stack!="", tier!=""}',
    "ready": 'uo_ready{stack!="", tier!=""}',
    "rate": f"sum by ({BY}) (rate(uo_http_requests_total{{{TRAFFIC}}}[{WINDOW}]))",
    "errors": (
        f'sum by ({BY}) (rate(uo_http_requests_total{{{TRAFFIC}, status=~"5.."}}[{WINDOW}]))'
    ),
    "p99": (
        f"histogram_quantile(0.99, sum by ({BY}, le) "
        f"(rate(uo_http_request_duration_seconds_bucket{{{TRAFFIC}}}[{WINDOW}])))"
    ),
}

Series = list[dict[str, Any]]
TierKey = tuple[str, str, str]  # namespace, stack, tier


class PrometheusUnavailableError(Exception):
    """Prometheus did not answer a query usably; the message says how."""


async def query_all(client: httpx.AsyncClient, base_url: str) -> dict[str, Series]:
    """Every query of QUERIES, concurrently: name → the vector it returned."""
    names = list(QUERIES)
    answers = await asyncio.gather(*(_query(client, base_url, QUERIES[n]) for n in names))
    return dict(zip(names, answers, strict=True))


async def _query(client: httpx.AsyncClient, base_url: str, expr: str) -> Series:
    url = f"{base_url.rstrip('/')}/api/v1/query"
    try:
        response = await client.get(url, params={"query": expr}, timeout=QUERY_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise PrometheusUnavailableError(
            f"{base_url} did not answer ({type(exc).__name__})"
        ) from exc
    if response.status_code != 200:
        raise PrometheusUnavailableError(f"{base_url} answered {response.status_code} to a query")
    try:
        body = response.json()
        result: Series = body["data"]["result"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PrometheusUnavailableError(
            f"{base_url} answered something that is no query result"
        ) from exc
    return result


def _key(series: Mapping[str, Any]) -> TierKey:
    labels = series["metric"]
    return labels.get("namespace", ""), labels.get("stack", ""), labels.get("tier", "")


def _number(series: Mapping[str, Any]) -> float | None:
    """The sample's value; None for NaN (a quantile or a ratio of no requests)."""
    value = float(series["value"][1])
    return None if math.isnan(value) else value


@dataclass
class _Tier:
    up: dict[str, bool] = field(default_factory=dict)  # instance → scraped
    ready: dict[str, bool] = field(default_factory=dict)  # instance → last readiness verdict
    images: set[str] = field(default_factory=set)
    core_versions: set[str] = field(default_factory=set)
    rate: float = 0.0
    errors: float = 0.0
    p99: float | None = None

    def ready_count(self) -> int:
        # A tier without its own readiness series (the app server) is ready when it is scraped.
        return sum(1 for i, up in self.up.items() if up and self.ready.get(i, True))


def _gather(answers: Mapping[str, Series]) -> tuple[dict[TierKey, _Tier], dict[str, str]]:
    """Per tier what its replicas report, and each namespace's environment name."""
    tiers: dict[TierKey, _Tier] = defaultdict(_Tier)
    environments: dict[str, str] = {}
    for series in answers["up"]:
        tiers[_key(series)].up[series["metric"].get("instance", "")] = _number(series) == 1
    for series in answers["ready"]:
        tiers[_key(series)].ready[series["metric"].get("instance", "")] = _number(series) == 1
    for series in answers["info"]:
        labels, tier = series["metric"], tiers[_key(series)]
        if labels.get("image"):
            tier.images.add(labels["image"])
        if labels.get("core_version"):
            tier.core_versions.add(labels["core_version"])
        if labels.get("environment"):
            environments[labels.get("namespace", "")] = labels["environment"]
    for series in answers["rate"]:
        tiers[_key(series)].rate = _number(series) or 0.0
    for series in answers["errors"]:
        tiers[_key(series)].errors = _number(series) or 0.0
    for series in answers["p99"]:
        tiers[_key(series)].p99 = _number(series)
    return tiers, environments


def runs(image: str, wanted: TierImage) -> bool:
    """Whether the image reference ``image`` (as the chart rendered it) is ``wanted``: the same
    digest when infra/ pins one, else the same tag."""
    if wanted.digest:
        return image.endswith(f"@{wanted.digest}")
    return bool(wanted.tag) and image.endswith(f":{wanted.tag}")


def _status(tier: _Tier, wanted: TierImage | None, known: bool) -> LiveStatus:
    replicas, ready = len(tier.up), tier.ready_count()
    if replicas == 0 or ready < replicas:
        return "degraded"
    if not known:
        return "running"
    if wanted is None or not all(runs(image, wanted) for image in tier.images):
        return "drifted"
    return "in_sync"


def _live_tier(tier: _Tier, wanted: TierImage | None, known: bool) -> LiveTier:
    return LiveTier(
        status=_status(tier, wanted, known),
        replicas=len(tier.up),
        ready=tier.ready_count(),
        images=sorted(tier.images),
        desired=(wanted.digest or wanted.tag) if wanted else None,
        core_versions=sorted(tier.core_versions),
        requests_per_second=round(tier.rate, 4),
        error_ratio=round(tier.errors / tier.rate, 4) if tier.rate > 0 else None,
        p99_seconds=round(tier.p99, 4) if tier.p99 is not None else None,
    )


def live_state(
    answers: Mapping[str, Series], desired: Mapping[str, EnvironmentState]
) -> list[LiveEnvironment]:
    """The answers of QUERIES set beside ``desired`` (infra/'s environments by name). A tier
    infra/ wants in an environment that reports nothing of it is degraded, with 0 replicas."""
    tiers, names = _gather(answers)
    namespaces = sorted({namespace for namespace, _, _ in tiers if namespace})
    result = []
    for namespace in namespaces:
        name = names.get(namespace) or namespace.removeprefix("uo-")
        state = desired.get(name)
        known = state is not None and state.namespace == namespace
        wanted_tiers = _wanted(state) if known and state else {}
        keys = {(stack, tier) for ns, stack, tier in tiers if ns == namespace} | set(wanted_tiers)
        stacks: dict[str, dict[str, LiveTier]] = defaultdict(dict)
        for stack, tier in sorted(keys):
            reported = tiers.get((namespace, stack, tier), _Tier())
            stacks[stack][tier] = _live_tier(reported, wanted_tiers.get((stack, tier)), known)
        result.append(
            LiveEnvironment(
                name=name,
                namespace=namespace,
                known=known,
                stacks={stack: LiveStack(tiers=t) for stack, t in stacks.items()},
            )
        )
    return result


def _wanted(state: EnvironmentState) -> dict[tuple[str, str], TierImage]:
    """The tiers of ``state`` that report metrics (the database tier has none)."""
    return {
        (stack, tier): image
        for stack, stack_state in state.stacks.items()
        for tier, image in stack_state.tiers.items()
        if tier in IMAGE_TIERS and (image.digest or image.tag)
    }


async def read_live(
    client: httpx.AsyncClient, base_url: str, desired: Mapping[str, EnvironmentState]
) -> LiveState:
    if not base_url:
        return LiveState(prometheus="not_configured", detail="UO_PROMETHEUS_URL is not set")
    try:
        answers = await query_all(client, base_url)
    except PrometheusUnavailableError as exc:
        return LiveState(prometheus="unavailable", detail=str(exc))
    return LiveState(prometheus="ok", environments=live_state(answers, desired))


__all__ = [
    "QUERIES",
    "PrometheusUnavailableError",
    "live_state",
    "query_all",
    "read_live",
    "runs",
]
