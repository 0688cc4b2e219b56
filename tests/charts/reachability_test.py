"""Who can reach whom, computed from the rendered NetworkPolicies with Kubernetes' semantics, must
be exactly the allowed chain: ingress -> app -> api -> service -> PostgreSQL (and the migration
Job -> PostgreSQL), DNS for every pod, and every api -> the auth api (JWKS, service tokens)."""

from __future__ import annotations

import pytest

from charts.conftest import ALL_TARGETS, rendered
from unifyops_core.naming import STACKS, TIER_PORTS
from uo.netpolicy import Network, Pod

SERVING_PORTS = {tier: [(port, "TCP")] for tier, port in TIER_PORTS.items()}


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
            client = labels.get("unifyops.io/client")
            name = f"{labels['unifyops.io/stack']}-{tier}" + (f"-{client}" if client else "")
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
            # JWKS and service tokens (api), JWKS (service)
            allowed.add((f"{stack}-api", "auth-api", 8002, "TCP"))
            allowed.add((f"{stack}-service", "auth-api", 8002, "TCP"))
        # the auth release registers every gateway's client in its database
        allowed.add((f"auth-register-{stack}", "auth-database", 5432, "TCP"))
        allowed |= {
            (f"auth-register-{stack}", "kube-dns", 53, "UDP"),
            (f"auth-register-{stack}", "kube-dns", 53, "TCP"),
        }
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
