"""Who can reach whom, computed from the rendered NetworkPolicies with Kubernetes' semantics, must
be exactly the allowed chain: ingress -> app -> api -> service -> PostgreSQL (and the migration
Job -> PostgreSQL), DNS for every pod, and every api -> the auth api (JWKS, service tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from charts.conftest import ALL_TARGETS, rendered
from unifyops_core.naming import STACKS, TIER_PORTS
from uo.render import Manifest

SERVING_PORTS = {
    **{tier: [(port, "TCP")] for tier, port in TIER_PORTS.items()},
    "database": [(5432, "TCP")],
}


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[int, str], ...] = field(default=())
    external: bool = False  # a pod of the cluster, not of this chart (no policies of ours)

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    assert not selector.get("matchExpressions"), "only matchLabels are used by the chart"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def peer_matches(peer: dict[str, Any], policy_namespace: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # external databases are outside the cluster
    if "namespaceSelector" in peer:
        namespace_ok = selector_matches(
            peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace}
        )
    else:
        namespace_ok = pod.namespace == policy_namespace
    return namespace_ok and selector_matches(peer.get("podSelector"), pod.label_map())


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
    )


class Network:
    def __init__(self, pods: list[Pod], policies: list[Manifest], namespace: str) -> None:
        self.pods = pods
        self.policies = policies
        self.namespace = namespace

    def _selecting(self, pod: Pod, direction: str) -> list[Manifest]:
        if pod.external or pod.namespace != self.namespace:
            return []
        return [
            p
            for p in self.policies
            if direction in p["spec"]["policyTypes"]
            and selector_matches(p["spec"]["podSelector"], pod.label_map())
        ]

    def allows(self, source: Pod, target: Pod, port: int, protocol: str) -> bool:
        egress_policies = self._selecting(source, "Egress")
        egress_ok = not egress_policies or any(
            port_matches(rule, port, protocol)
            and any(peer_matches(peer, self.namespace, target) for peer in rule.get("to", []))
            for policy in egress_policies
            for rule in policy["spec"].get("egress", [])
        )
        ingress_policies = self._selecting(target, "Ingress")
        ingress_ok = not ingress_policies or any(
            port_matches(rule, port, protocol)
            and any(peer_matches(peer, self.namespace, source) for peer in rule.get("from", []))
            for policy in ingress_policies
            for rule in policy["spec"].get("ingress", [])
        )
        return egress_ok and ingress_ok

    def reachable(self) -> set[tuple[str, str, int, str]]:
        return {
            (source.name, target.name, port, protocol)
            for source in self.pods
            for target in self.pods
            if not (source.external and target.external)
            for port, protocol in target.ports
            if self.allows(source, target, port, protocol)
        }


def network_of(environment: str) -> Network:
    namespace = f"uo-{environment}"
    objects = [o for t in ALL_TARGETS if t.environment == environment for o in rendered(t)]
    pods = [
        Pod(
            "ingress-controller",
            "ingress-nginx",
            (("app.kubernetes.io/name", "ingress-nginx"),),
            ((80, "TCP"),),
            external=True,
        ),
        Pod(
            "kube-dns",
            "kube-system",
            (("k8s-app", "kube-dns"),),
            ((53, "UDP"), (53, "TCP")),
            external=True,
        ),
    ]
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            tier = labels["unifyops.io/tier"]
            name = f"{labels['unifyops.io/stack']}-{tier}"
            pods.append(
                Pod(
                    name,
                    namespace,
                    tuple(sorted(labels.items())),
                    tuple(SERVING_PORTS.get(tier, [])),
                )
            )
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return Network(pods, policies, namespace)


def expected_chain() -> set[tuple[str, str, int, str]]:
    allowed = set()
    for stack in STACKS:
        allowed |= {
            ("ingress-controller", f"{stack}-app", 3000, "TCP"),
            (f"{stack}-app", f"{stack}-api", 8002, "TCP"),
            (f"{stack}-api", f"{stack}-service", 8001, "TCP"),
            (f"{stack}-service", f"{stack}-database", 5432, "TCP"),
            (f"{stack}-migrate", f"{stack}-database", 5432, "TCP"),
        }
        if stack != "auth":
            allowed.add((f"{stack}-api", "auth-api", 8002, "TCP"))
        for tier in ("app", "api", "service", "database", "migrate"):
            allowed |= {
                (f"{stack}-{tier}", "kube-dns", 53, "UDP"),
                (f"{stack}-{tier}", "kube-dns", 53, "TCP"),
            }
    return allowed


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_reachability_is_exactly_the_allowed_chain(environment: str) -> None:
    reachable = network_of(environment).reachable()
    expected = expected_chain()
    assert reachable - expected == set(), "reachable but not allowed"
    assert expected - reachable == set(), "allowed but not reachable"


def test_the_model_itself_denies_by_default() -> None:
    # Without the chart's policies every pod reaches every other: the model is not vacuous.
    open_network = network_of("dev")
    open_network.policies = []
    assert ("user-app", "auth-database", 5432, "TCP") in open_network.reachable()
