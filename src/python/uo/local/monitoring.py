"""The Prometheus `uo up` runs per environment, derived from the rendered chart: the PodMonitors
say which pods to scrape (selector, port, path, interval, relabelings), the PrometheusRules are
its rule file, and `monitoring.namespace`/`podLabels` say which pod it is in the NetworkPolicy
model (uo.local.wiring lets it reach exactly the metrics ports those policies open to it).

Pure: objects in, a Prometheus configuration out. What a cluster's Prometheus Operator does with
Kubernetes' pod discovery, this does with the engine's DNS: each scraped workload is found by the
names of the Services that select it (the aliases it serves under on its network), one target
per replica (`dns_sd_configs`, type A), so the configuration does not change when a rollout
replaces containers. Unlike a PodMonitor on a cluster, a replica is scraped only once it serves
(joined its Services' networks after its readiness probe).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from uo.local.manifests import ManifestError, Service, Workload
from uo.local.topology import (
    LABEL,
    ContainerSpec,
    Liveness,
    Readiness,
    Security,
    environment_port_offset,
    public_network,
)
from uo.local.wiring import Attachment, Wiring
from uo.netpolicy import Pod, selector_matches

PROMETHEUS = "prometheus"  # its key in the wiring, and its tier label
STACK = "monitoring"  # its stack label: `uo-<env>-monitoring-prometheus-…`
PORT = 9090
LOGS = "logs"  # the log reader's tier label (uo_logs): a sidecar in the Prometheus pod
LOGS_PORT = 3100
# Where the log reader finds the containers' log files, each mounted read-only as ``<id>.log``.
LOGS_MOUNT = "/logs"


@dataclass(frozen=True)
class LogFile:
    """A container whose log the reader may read: the engine's file (``LogPath``) and what the
    reader's index says of it (name, created, its uo labels)."""

    container_id: str
    path: str
    name: str
    created: str
    labels: tuple[tuple[str, str], ...]


def log_files(containers: Iterable[Any]) -> list[LogFile]:
    """The log files of these containers (the Docker SDK's), the reader's own excepted; one
    that has none yet (created, never started) is left out."""
    found = []
    for container in containers:
        labels = container.labels or {}
        path = str(container.attrs.get("LogPath") or "")
        if not path or labels.get(f"{LABEL}.tier") == LOGS:
            continue
        ours = tuple(sorted((k, v) for k, v in labels.items() if k.startswith(f"{LABEL}.")))
        created = str(container.attrs.get("Created", ""))
        found.append(LogFile(container.id, path, container.name, created, ours))
    return sorted(found, key=lambda f: (f.created, f.name))


DEFAULT_INTERVAL = "30s"
DNS_REFRESH = "5s"  # how soon a new replica's address is scraped
POD_LABEL_META = "__meta_kubernetes_pod_label_"


@dataclass(frozen=True)
class ScrapeJob:
    """One PodMonitor endpoint applied to one selected workload."""

    name: str  # unique job_name: <namespace>/<monitor>/<endpoint index>/<workload>
    dns_names: tuple[str, ...]
    port: int
    path: str
    interval: str
    labels: dict[str, str] = field(default_factory=dict)  # target labels, job included


def host_port(environment: str) -> int:
    """Where Prometheus is published on 127.0.0.1: 9090, +4000 per environment (local 9090,
    dev 13090, test 25090), the same offsets as the tiers' ports."""
    return PORT + environment_port_offset(environment)


def enabled(values: Mapping[str, Any]) -> bool:
    return bool((values.get("monitoring") or {}).get("enabled"))


def prometheus_pod(values: Mapping[str, Any], *, with_logs: bool = False) -> Pod:
    """The Prometheus container as the NetworkPolicy model sees it: a pod of
    `monitoring.namespace` with `monitoring.podLabels` (not a pod of the stacks' releases),
    serving its API on PORT — and the log reader's on LOGS_PORT ``with_logs`` (its sidecar)."""
    monitoring = values.get("monitoring") or {}
    labels = monitoring.get("podLabels") or {}
    return Pod(
        PROMETHEUS,
        str(monitoring.get("namespace", "monitoring")),
        tuple(sorted(labels.items())),
        ports=((PORT, "TCP"), *([(LOGS_PORT, "TCP")] if with_logs else [])),
        external=True,
    )


def _url(values: Mapping[str, Any], key: str) -> str:
    return str(((values.get("monitoring") or {}).get(key) or {}).get("url") or "")


def logs_url(values: Mapping[str, Any]) -> str:
    """`monitoring.logs.url`: where the chart tells the environment service to find the log
    reader ("" when the values want none)."""
    return _url(values, "logs")


def query_aliases(values: Mapping[str, Any], *, with_logs: bool = False) -> tuple[str, ...]:
    """The names the Prometheus pod answers under for its callers: the host of
    `monitoring.query.url` (the URL the chart gives the environment service), and ``with_logs``
    the host of `monitoring.logs.url` (its log reader sidecar), where set."""
    urls = [_url(values, "query"), *([logs_url(values)] if with_logs else [])]
    return tuple(host for url in urls if (host := urlsplit(url).hostname))


def _label_name(kubernetes_label: str) -> str:
    """``unifyops.io/stack`` → ``unifyops_io_stack`` (Prometheus' meta label form)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", kubernetes_label)


def _relabelled(
    monitor: str, relabelings: Iterable[Mapping[str, Any]], pod_labels: Mapping[str, str]
) -> dict[str, str]:
    """The target labels the endpoint's relabelings give this workload's pods. Only the form
    the chart uses is understood (copy one pod label to a target label); anything else is
    refused by name rather than silently dropped."""
    meta = {POD_LABEL_META + _label_name(k): v for k, v in pod_labels.items()}
    labels = {}
    for rule in relabelings:
        sources = rule.get("sourceLabels") or []
        action = rule.get("action", "replace")
        plain = rule.get("regex", "(.*)") == "(.*)" and rule.get("replacement", "$1") == "$1"
        if action != "replace" or len(sources) != 1 or "targetLabel" not in rule or not plain:
            raise ManifestError(f"PodMonitor/{monitor}: relabeling {dict(rule)} is not run here")
        if not str(sources[0]).startswith(POD_LABEL_META):
            raise ManifestError(
                f"PodMonitor/{monitor}: relabeling from {sources[0]} is not run here"
            )
        value = meta.get(str(sources[0]), "")
        if value:  # an empty result leaves the label unset, as in Prometheus
            labels[str(rule["targetLabel"])] = value
    return labels


def scrape_jobs(
    objects: Iterable[Mapping[str, Any]],
    workloads: Iterable[Workload],
    services: Iterable[Service],
    namespace: str,
) -> list[ScrapeJob]:
    """Every (PodMonitor endpoint, selected workload) of the rendered objects."""
    items = [w for w in workloads if not w.is_job]
    services = list(services)
    jobs = []
    for monitor in (o for o in objects if o["kind"] == "PodMonitor"):
        name, spec = monitor["metadata"]["name"], monitor["spec"]
        namespaces = spec.get("namespaceSelector") or {}
        if not namespaces.get("any") and namespace not in (namespaces.get("matchNames") or []):
            continue  # a monitor of another namespace's pods: none run in this environment
        selected = [w for w in items if selector_matches(spec["selector"], dict(w.labels))]
        for index, endpoint in enumerate(spec.get("podMetricsEndpoints") or []):
            for item in selected:
                ports = item.ports()
                if endpoint.get("port") not in ports:
                    raise ManifestError(
                        f"PodMonitor/{name}: {item.workload_id} declares no port "
                        f"{endpoint.get('port')!r}"
                    )
                names = tuple(sorted(s.name for s in services if s.selects(item)))
                if not names:
                    raise ManifestError(
                        f"PodMonitor/{name}: {item.workload_id} has no Service (uo up finds "
                        "a pod to scrape by its Services' names)"
                    )
                labels = {
                    "namespace": namespace,
                    "pod": item.name,
                    "container": str(item.container.get("name", "")),
                    "endpoint": str(endpoint["port"]),
                    "job": f"{namespace}/{name}",
                    **_relabelled(name, endpoint.get("relabelings") or [], dict(item.labels)),
                }
                jobs.append(
                    ScrapeJob(
                        name=f"{namespace}/{name}/{index}/{item.workload_id}",
                        dns_names=names,
                        port=ports[endpoint["port"]],
                        path=str(endpoint.get("path", "/metrics")),
                        interval=str(endpoint.get("interval", DEFAULT_INTERVAL)),
                        labels=labels,
                    )
                )
    return jobs


def rule_groups(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The groups of every PrometheusRule, as one rule file holds them (names must not clash)."""
    groups: list[dict[str, Any]] = []
    for rule in (o for o in objects if o["kind"] == "PrometheusRule"):
        for group in rule["spec"].get("groups") or []:
            if any(g["name"] == group["name"] for g in groups):
                raise ManifestError(
                    f"PrometheusRule/{rule['metadata']['name']}: group {group['name']} is defined "
                    "twice"
                )
            groups.append(dict(group))
    return groups


def config(jobs: Iterable[ScrapeJob], *, with_rules: bool) -> str:
    """prometheus.yml; the rule file sits beside it as rules.yml (src/docker/prometheus)."""
    scrape_configs = [
        {
            "job_name": job.name,
            "metrics_path": job.path,
            "scrape_interval": job.interval,
            "dns_sd_configs": [
                {
                    "names": list(job.dns_names),
                    "type": "A",
                    "port": job.port,
                    "refresh_interval": DNS_REFRESH,
                }
            ],
            # A constant per target: an empty source matches `(.*)` and the replacement is set.
            "relabel_configs": [
                {"target_label": key, "replacement": value}
                for key, value in sorted(job.labels.items())
            ],
        }
        for job in jobs
    ]
    document: dict[str, Any] = {
        "global": {"scrape_interval": DEFAULT_INTERVAL, "evaluation_interval": DEFAULT_INTERVAL},
        "scrape_configs": scrape_configs,
    }
    if with_rules:
        document["rule_files"] = ["rules.yml"]
    return yaml.safe_dump(document, sort_keys=False)


def rules(groups: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"groups": groups}, sort_keys=False)


def prometheus_spec(
    environment: str,
    image: str,
    wiring: Wiring,
    prometheus_config: str,
    rule_file: str,
    published: int | None = None,
) -> ContainerSpec:
    """The container: the generated files in its env (written to a tmpfs by the image's entry
    point, so a new configuration is a new fingerprint and replaces it), its TSDB on a named
    volume, published on 127.0.0.1:``published`` (if given) and reachable from nowhere else, a
    client of exactly the networks the policies let it scrape."""
    return ContainerSpec(
        environment,
        STACK,
        PROMETHEUS,
        image,
        env={"PROMETHEUS_CONFIG": prometheus_config, "PROMETHEUS_RULES": rule_file},
        client_networks=dict(wiring.client),
        # Published on the public network; served to the callers the policies allow on its own.
        serving_networks={public_network(environment): Attachment(ports=(PORT,)), **wiring.serving},
        ports={PORT: published} if published else {},
        volumes={f"uo-{environment}-{STACK}-{PROMETHEUS}-data": "/prometheus"},
        tmpfs=("/run/prometheus",),
        security=Security(
            user="10001:10001", read_only=True, cap_drop=("ALL",), no_new_privileges=True
        ),
        memory_limit=512 * 2**20,
        readiness=Readiness("http", PORT, "/-/ready"),
        liveness=Liveness("http", PORT, "/-/healthy", period=10.0, failures=3, timeout=2.0),
        restart=True,
        stop_grace_seconds=30,
    )


def logs_spec(environment: str, image: str, logs: list[LogFile], pod: str) -> ContainerSpec:
    """The log reader, to run in the Prometheus container's network namespace (a sidecar:
    reached on LOGS_PORT under the pod's aliases, by exactly the callers its policies allow).
    Each container's log file is mounted read-only under LOGS_MOUNT and named in the index —
    nothing else of the engine (not its API; not the containers' configuration, whose env holds
    their secrets). The files are root's with mode 0640, so the reader, a non-root user, reads
    them as a member of group 0, without any capability. ``pod``: the Prometheus container's id;
    a new pod is a new sidecar (its namespace went with the old one). A new set of containers is
    a new sidecar too (its mounts)."""
    ready = (
        "python3",
        "-c",
        "import urllib.request as r; "
        f"r.urlopen('http://127.0.0.1:{LOGS_PORT}/health/ready', timeout=2)",
    )
    index = [
        {"id": f.container_id, "name": f.name, "created": f.created, "labels": dict(f.labels)}
        for f in logs
    ]
    return ContainerSpec(
        environment,
        STACK,
        LOGS,
        image,
        env={
            "UO_ENVIRONMENT": environment,
            "UO_LOGS_ROOT": LOGS_MOUNT,
            "UO_LOGS_INDEX": json.dumps(index, sort_keys=True),
            "UO_LOGS_LABEL": LABEL,
            "UO_PORT": str(LOGS_PORT),
            "UO_POD": pod[:12],  # the pod it joins (see above)
        },
        binds={f.path: f"{LOGS_MOUNT}/{f.container_id}.log" for f in logs},
        tmpfs=("/tmp",),  # noqa: S108 (the pex unpacks here; a tmpfs, not the image)
        security=Security(
            user="10001:10001",
            group_add=("0",),
            read_only=True,
            cap_drop=("ALL",),
            no_new_privileges=True,
        ),
        memory_limit=256 * 2**20,
        readiness=Readiness("exec", command=ready),
        restart=True,
        stop_grace_seconds=5,
    )


__all__ = [
    "LOGS",
    "LOGS_PORT",
    "PORT",
    "PROMETHEUS",
    "STACK",
    "LogFile",
    "ScrapeJob",
    "config",
    "enabled",
    "host_port",
    "log_files",
    "logs_spec",
    "logs_url",
    "prometheus_pod",
    "prometheus_spec",
    "query_aliases",
    "rule_groups",
    "rules",
    "scrape_jobs",
]
