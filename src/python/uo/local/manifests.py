"""The rendered chart, read as `uo up` runs it: workloads (Deployments, StatefulSets, Jobs and
Argo CD hooks) in sync order, the Services that name them, the Ingresses that expose them and
the Secrets they reference. Pure: objects in, plain data out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from uo.netpolicy import Pod, selector_matches

Manifest = Mapping[str, Any]
STACK_LABEL = "unifyops.io/stack"
TIER_LABEL = "unifyops.io/tier"
CLIENT_LABEL = "unifyops.io/client"
WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
# The one policy run here: the previous run of a hook is removed before it runs again, and its
# last run is kept as the record that it succeeded (Reconciler.job).
DELETE_POLICIES = ("BeforeHookCreation",)
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
# Argo CD's phases; resources that are not hooks belong to Sync.
PHASES = ("PreSync", "Sync", "PostSync")
# Within one wave, the callee rolls before its callers (Argo CD applies a wave at once).
TIER_ORDER = ("database", "migrate", "register", "service", "api", "app")


class ManifestError(Exception):
    """The rendered objects use something `uo up` cannot run; the message names the object."""


@dataclass(frozen=True)
class Workload:
    """One workload's pod template and how it is rolled out."""

    kind: str
    name: str
    stack: str
    tier: str  # the tier label; for Jobs made unique per client (register-user)
    labels: tuple[tuple[str, str], ...]
    pod: Mapping[str, Any]
    wave: int
    phase: str
    delete_policy: str
    replicas: int
    claims: tuple[tuple[str, str], ...]  # (volumeClaimTemplate name, storage) of a StatefulSet

    @property
    def is_job(self) -> bool:
        return self.kind == "Job"

    @property
    def container(self) -> Mapping[str, Any]:
        containers = self.pod["containers"]
        if len(containers) != 1:
            raise ManifestError(f"{self.kind}/{self.name}: one container per pod is supported")
        first: Mapping[str, Any] = containers[0]
        return first

    def ports(self) -> dict[str, int]:
        return {
            p.get("name", str(p["containerPort"])): p["containerPort"]
            for p in self.container.get("ports", [])
        }

    def order(self) -> tuple[int, int, int, str]:
        tier = self.tier.split("-", 1)[0]
        rank = TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)
        return (PHASES.index(self.phase), self.wave, rank, self.name)

    def as_pod(self, namespace: str) -> Pod:
        ports = tuple((port, "TCP") for port in self.ports().values())
        return Pod(self.workload_id, namespace, self.labels, ports)

    @property
    def workload_id(self) -> str:
        """``<stack>-<tier>``: the name `uo up` labels and reports the workload by."""
        return f"{self.stack}-{self.tier}"


@dataclass(frozen=True)
class Service:
    name: str
    selector: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int, str], ...]  # (name, port, targetPort)

    def selects(self, workload: Workload) -> bool:
        return selector_matches({"matchLabels": dict(self.selector)}, dict(workload.labels))


@dataclass(frozen=True)
class Route:
    """An Ingress backend: what the edge publishes."""

    ingress: str
    service: str
    port: str | int


def _annotations(obj: Manifest) -> Mapping[str, str]:
    annotations: Mapping[str, str] = obj["metadata"].get("annotations") or {}
    return annotations


def workload(obj: Manifest) -> Workload:
    spec = obj["spec"]
    template = spec["template"]
    labels = dict(template["metadata"].get("labels") or {})
    if STACK_LABEL not in labels or TIER_LABEL not in labels:
        raise ManifestError(f"{obj['kind']}/{obj['metadata']['name']}: pod has no stack/tier label")
    tier = labels[TIER_LABEL]
    if obj["kind"] == "Job" and CLIENT_LABEL in labels:
        tier = f"{tier}-{labels[CLIENT_LABEL]}"
    annotations = _annotations(obj)
    phase = annotations.get(HOOK, "Sync") if obj["kind"] == "Job" else "Sync"
    if phase not in PHASES:
        raise ManifestError(f"{obj['kind']}/{obj['metadata']['name']}: hook {phase!r} is not run")
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    delete_policy = annotations.get(DELETE_POLICY, "BeforeHookCreation")
    if obj["kind"] == "Job" and delete_policy not in DELETE_POLICIES:
        raise ManifestError(f"{name}: hook delete policy {delete_policy!r} is not run here")
    if obj["kind"] == "Deployment":
        _check_strategy(name, spec.get("strategy") or {})
    claims = tuple(
        (claim["metadata"]["name"], str(claim["spec"]["resources"]["requests"]["storage"]))
        for claim in spec.get("volumeClaimTemplates") or []
    )
    return Workload(
        kind=obj["kind"],
        name=obj["metadata"]["name"],
        stack=labels[STACK_LABEL],
        tier=tier,
        labels=tuple(sorted(labels.items())),
        pod=template["spec"],
        wave=int(annotations.get(WAVE, "0")),
        phase=phase,
        delete_policy=delete_policy,
        replicas=1 if obj["kind"] == "Job" else int(spec.get("replicas", 1)),
        claims=claims,
    )


def _check_strategy(name: str, strategy: Mapping[str, Any]) -> None:
    """uo up rolls a Deployment one way, the chart's: one new replica at a time, none of the old
    stopped before it is ready. Anything else is refused by name, not run differently."""
    rolling = strategy.get("rollingUpdate") or {}
    ours = (
        strategy.get("type", "RollingUpdate") == "RollingUpdate"
        and str(rolling.get("maxSurge", 1)) == "1"
        and str(rolling.get("maxUnavailable", 0)) == "0"
    )
    if not ours:
        raise ManifestError(
            f"{name}: strategy {dict(strategy)} is not run here (uo up rolls RollingUpdate with "
            "maxSurge 1, maxUnavailable 0)"
        )


def workloads(objects: Iterable[Manifest]) -> list[Workload]:
    """Every workload in sync order: phase, wave, then callee before caller."""
    found = [workload(obj) for obj in objects if obj["kind"] in WORKLOAD_KINDS]
    return sorted(found, key=Workload.order)


def services(objects: Iterable[Manifest]) -> list[Service]:
    return [
        Service(
            obj["metadata"]["name"],
            tuple(sorted((obj["spec"].get("selector") or {}).items())),
            tuple(
                (p.get("name", ""), int(p["port"]), str(p.get("targetPort", p["port"])))
                for p in obj["spec"].get("ports", [])
            ),
        )
        for obj in objects
        if obj["kind"] == "Service"
    ]


def routes(objects: Iterable[Manifest]) -> list[Route]:
    found = []
    for obj in objects:
        if obj["kind"] != "Ingress":
            continue
        for rule in obj["spec"].get("rules", []):
            for path in (rule.get("http") or {}).get("paths", []):
                backend = path["backend"]["service"]
                port = backend["port"].get("name") or backend["port"]["number"]
                found.append(Route(obj["metadata"]["name"], backend["name"], port))
    return found


def secret_refs(objects: Iterable[Manifest]) -> set[tuple[str, str, str]]:
    """(stack, Secret name, key) of every secretKeyRef in a workload's env."""
    refs = set()
    for item in workloads(objects):
        for env in item.container.get("env", []):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add((item.stack, ref["name"], ref["key"]))
    return refs


def config_maps(objects: Iterable[Manifest]) -> dict[str, dict[str, str]]:
    return {
        obj["metadata"]["name"]: dict(obj.get("data") or {})
        for obj in objects
        if obj["kind"] == "ConfigMap"
    }


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
}


def memory_bytes(quantity: str | int) -> int:
    """A Kubernetes memory quantity (``256Mi``, ``1G``, ``1048576``) in bytes."""
    match = _QUANTITY.match(str(quantity))
    if not match or match.group(2) not in _UNITS:
        raise ManifestError(f"memory quantity {quantity!r} is not understood")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def cpu_nanos(quantity: str | int | float) -> int:
    """A Kubernetes CPU quantity (``500m``, ``1``, ``0.5``) in billionths of a CPU."""
    text = str(quantity)
    if text.endswith("m"):
        return int(float(text[:-1]) * 10**6)
    return int(float(text) * 10**9)


__all__ = [
    "ManifestError",
    "Route",
    "Service",
    "Workload",
    "config_maps",
    "cpu_nanos",
    "memory_bytes",
    "routes",
    "secret_refs",
    "services",
    "workload",
    "workloads",
]
