"""Who may reach whom under a set of Kubernetes NetworkPolicies: one model, used by the chart
tests (the rendered policies allow exactly the chain) and by `uo up` (which wires and firewalls
the running containers from it, and whose e2e tests compare what really connects with it).

Kubernetes' semantics, for what the chart uses: a pod selected by no policy of a direction is
open in that direction; a pod selected by some is closed except what one of their rules allows;
a connection needs the source's egress *and* the target's ingress to allow it. Peers are pod
selectors (in the policy's namespace unless a namespace selector is given) or ip blocks (never
a pod of ours). Selectors support matchLabels and matchExpressions (In, NotIn, Exists,
DoesNotExist).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Policy = Mapping[str, Any]
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[int, str], ...] = field(default=())
    external: bool = False  # a pod of the cluster, not of these releases (no policies of ours)

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown selector operator {operator!r}")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector; an empty selector matches everything, a missing one too."""
    if selector is None:
        return True
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(key) != value for key, value in wanted.items()):
        return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def peer_matches(peer: Mapping[str, Any], policy_namespace: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # an address range outside the cluster (an external database)
    if "namespaceSelector" in peer:
        namespace_ok = selector_matches(peer["namespaceSelector"], {NAMESPACE_LABEL: pod.namespace})
    else:
        namespace_ok = pod.namespace == policy_namespace
    return namespace_ok and selector_matches(peer.get("podSelector"), pod.label_map())


def port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
    )


class Network:
    """The pods of one namespace and the policies in it."""

    def __init__(self, pods: Iterable[Pod], policies: Iterable[Policy], namespace: str) -> None:
        self.pods = list(pods)
        self.policies = list(policies)
        self.namespace = namespace

    def _selecting(self, pod: Pod, direction: str) -> list[Policy]:
        if pod.external or pod.namespace != self.namespace:
            return []
        return [
            p
            for p in self.policies
            if direction in p["spec"]["policyTypes"]
            and selector_matches(p["spec"]["podSelector"], pod.label_map())
        ]

    def allows(self, source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
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
        """Every (source, target, port, protocol) the policies allow between distinct pods."""
        return {
            (source.name, target.name, port, protocol)
            for source in self.pods
            for target in self.pods
            if source.name != target.name and not (source.external and target.external)
            for port, protocol in target.ports
            if self.allows(source, target, port, protocol)
        }


__all__ = ["Network", "Pod", "peer_matches", "port_matches", "selector_matches"]
