"""Who can reach whom, computed from the rendered NetworkPolicies with Kubernetes' semantics, must
be exactly the allowed chain: ingress -> app -> api -> service -> PostgreSQL (and the migration
Job -> PostgreSQL), DNS for every pod, every api -> the auth api (JWKS, service tokens), and the
monitoring namespace's Prometheus -> each Python tier's metrics port (nothing else reaches it)."""

from __future__ import annotations

import pytest

from charts.conftest import ALL_TARGETS, RenderWith, rendered
from unifyops_core.naming import IMAGE_TIERS, STACKS, TIER_PORTS
from uo.netpolicy import Network, Pod
from uo.render import Manifest

SERVING_PORTS = {tier: [(port, "TCP")] for tier, port in TIER_PORTS.items()}
METRICS_PORT = 9464  # the chart's tierDefaults.metricsPort
PROMETHEUS = Pod(
    "prometheus",
    "monitoring",
    (("app.kubernetes.io/name", "prometheus"),),
    external=True,
)


def declared_ports(obj: Manifest) -> list[tuple[int, str]]:
    """The metrics ports the rendered containers declare (the serving ports come from the naming
    contract, so a chart that moved one would fail the comparison)."""
    return [
        (port["containerPort"], port.get("protocol", "TCP"))
        for container in obj["spec"]["template"]["spec"]["containers"]
        for port in container.get("ports", [])
        if port.get("name") == "metrics"
    ]


def network_of(environment: str, objects: list[Manifest] | None = None) -> Network:
    namespace = f"uo-{environment}"
    if objects is None:
        objects = [o for t in ALL_TARGETS if t.environment == environment for o in rendered(t)]
    pods = [
        PROMETHEUS,
        # Any other pod of the cluster, here another tenant's namespace.
        Pod("outsider", "tenant-b", (("app.kubernetes.io/name", "scraper"),), external=True),
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
                    tuple(SERVING_PORTS.get(tier, [])) + tuple(declared_ports(obj)),
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
        allowed |= {("prometheus", f"{stack}-{tier}", METRICS_PORT, "TCP") for tier in IMAGE_TIERS}
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


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_only_the_monitoring_namespace_reaches_the_metrics_ports(environment: str) -> None:
    reachable = network_of(environment).reachable()
    to_metrics = {(source, target) for source, target, port, _ in reachable if port == METRICS_PORT}
    assert to_metrics == {
        ("prometheus", f"{stack}-{tier}") for stack in STACKS for tier in IMAGE_TIERS
    }
    # and Prometheus reaches nothing but the metrics ports
    assert {port for source, _, port, _ in reachable if source == "prometheus"} == {METRICS_PORT}


def test_monitoring_pod_labels_narrow_who_may_scrape(render_with: RenderWith) -> None:
    def edit(values: dict[str, object]) -> None:
        values["monitoring"] = {
            "namespace": "observability",
            "podLabels": {"app.kubernetes.io/name": "prometheus"},
        }

    network = network_of("dev", render_with(edit))
    api = next(p for p in network.pods if p.name == "auth-api")
    prometheus = Pod("prometheus", "observability", PROMETHEUS.labels, external=True)
    grafana = Pod(
        "grafana", "observability", (("app.kubernetes.io/name", "grafana"),), external=True
    )
    assert network.allows(prometheus, api, METRICS_PORT)
    assert not network.allows(grafana, api, METRICS_PORT)
    assert not network.allows(PROMETHEUS, api, METRICS_PORT)  # the default namespace no longer
    assert not network.allows(prometheus, api, 8002)
