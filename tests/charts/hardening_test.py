"""Every rendered workload in every environment is hardened; each rule is its own assertion."""

from __future__ import annotations

from typing import Any

import pytest

from charts.conftest import all_objects, pod_spec, workload_id, workloads
from uo.render import Manifest, Target

WORKLOADS = workloads()


def containers(workload: Manifest) -> list[dict[str, Any]]:
    return list(pod_spec(workload)["containers"])


@pytest.mark.parametrize("item", WORKLOADS, ids=workload_id)
class TestPodHardening:
    def test_runs_as_non_root_uid_10000_or_more(self, item: tuple[Target, Manifest]) -> None:
        context = pod_spec(item[1])["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] >= 10000
        assert context["runAsGroup"] >= 10000

    def test_seccomp_runtime_default(self, item: tuple[Target, Manifest]) -> None:
        assert pod_spec(item[1])["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

    def test_no_service_account_token(self, item: tuple[Target, Manifest]) -> None:
        assert pod_spec(item[1])["automountServiceAccountToken"] is False

    def test_read_only_root_filesystem(self, item: tuple[Target, Manifest]) -> None:
        assert all(
            c["securityContext"]["readOnlyRootFilesystem"] is True for c in containers(item[1])
        )

    def test_no_privilege_escalation(self, item: tuple[Target, Manifest]) -> None:
        assert all(
            c["securityContext"]["allowPrivilegeEscalation"] is False for c in containers(item[1])
        )

    def test_all_capabilities_dropped(self, item: tuple[Target, Manifest]) -> None:
        assert all(
            c["securityContext"]["capabilities"] == {"drop": ["ALL"]} for c in containers(item[1])
        )

    def test_images_are_pinned(self, item: tuple[Target, Manifest]) -> None:
        for container in containers(item[1]):
            image = container["image"]
            assert "@sha256:" in image or (
                ":" in image.rsplit("/", 1)[-1] and not image.endswith("latest")
            )

    def test_memory_is_limited(self, item: tuple[Target, Manifest]) -> None:
        assert all(c["resources"]["limits"]["memory"] for c in containers(item[1]))

    def test_writable_paths_are_volumes(self, item: tuple[Target, Manifest]) -> None:
        volumes = {v["name"] for v in pod_spec(item[1]).get("volumes", [])}
        for container in containers(item[1]):
            assert {m["name"] for m in container.get("volumeMounts", [])} <= volumes | {"data"}
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])


DEPLOYMENTS = [item for item in WORKLOADS if item[1]["kind"] == "Deployment"]


@pytest.mark.parametrize("item", DEPLOYMENTS, ids=workload_id)
class TestRollout:
    def test_rolling_update_never_drops_below_desired(self, item: tuple[Target, Manifest]) -> None:
        strategy = item[1]["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0

    def test_grace_period_outlasts_prestop_and_shutdown(
        self, item: tuple[Target, Manifest]
    ) -> None:
        spec = pod_spec(item[1])
        (container,) = spec["containers"]
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pre_stop > 0
        assert (
            spec["terminationGracePeriodSeconds"] > pre_stop + 20
        )  # 20 s: the apps' graceful shutdown

    def test_probes_use_the_health_contract(self, item: tuple[Target, Manifest]) -> None:
        (container,) = pod_spec(item[1])["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"

    def test_readiness_outlasts_the_readiness_checks(self, item: tuple[Target, Manifest]) -> None:
        from unifyops_core.health import HealthRegistry

        (container,) = pod_spec(item[1])["containers"]
        # A probe that gives up first reads a slow check as a timeout, not as its 503 answer.
        timeout = container["readinessProbe"].get("timeoutSeconds", 1)  # Kubernetes' default
        assert timeout > HealthRegistry.default_timeout

    def test_port_follows_the_naming_contract(self, item: tuple[Target, Manifest]) -> None:
        from unifyops_core.naming import TIER_PORTS

        tier = item[1]["metadata"]["labels"]["unifyops.io/tier"]
        (container,) = pod_spec(item[1])["containers"]
        assert container["ports"][0]["containerPort"] == TIER_PORTS[tier]

    def test_spread_across_nodes(self, item: tuple[Target, Manifest]) -> None:
        spec = pod_spec(item[1])
        assert spec["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
        assert spec["affinity"]["podAntiAffinity"]


def test_autoscaled_tiers_have_no_fixed_replicas() -> None:
    objects = all_objects()
    scaled = {
        (t, o["spec"]["scaleTargetRef"]["name"])
        for t, o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled, "prod autoscales its api and service tiers"
    for target, obj in objects:
        if obj["kind"] == "Deployment":
            autoscaled = (target, obj["metadata"]["name"]) in scaled
            assert ("replicas" in obj["spec"]) is not autoscaled


def test_prod_keeps_two_pods_available_and_dev_has_no_pdb() -> None:
    pdbs = [
        (t.environment, o["spec"]["minAvailable"])
        for t, o in all_objects()
        if o["kind"] == "PodDisruptionBudget"
    ]
    assert {env for env, _ in pdbs} == {"staging", "prod"}
    assert all(minimum == 2 for env, minimum in pdbs if env == "prod")
