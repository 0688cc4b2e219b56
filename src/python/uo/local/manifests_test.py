"""Reading the rendered chart: sync order, secrets referenced, quantities."""

from __future__ import annotations

import pytest

from unifyops_core.naming import STACKS
from uo.local import manifests
from uo.local.manifests import ManifestError
from uo.local.rendered_testutil import rendered


def test_sync_order_is_database_then_migrations_then_registrations_then_callee_first() -> None:
    objects, _ = rendered()
    order = [w.workload_id for w in manifests.workloads(objects) if w.stack == "auth"]
    assert order.index("auth-database") < order.index("auth-migrate")
    assert order.index("auth-migrate") < order.index("auth-register-user")
    assert order.index("auth-register-user") < order.index("auth-service")
    assert order.index("auth-service") < order.index("auth-api") < order.index("auth-app")


def test_every_secret_the_tiers_need_is_referenced_by_name() -> None:
    objects, _ = rendered()
    names = {(name, key) for _, name, key in manifests.secret_refs(objects)}
    for stack in STACKS:
        assert (f"{stack}-db-credentials", "password") in names
        assert (f"{stack}-api-client", "client-secret") in names
    assert ("auth-key-encryption", "key") in names


@pytest.mark.parametrize(
    ("quantity", "expected"), [("256Mi", 256 * 2**20), ("1G", 10**9), ("1048576", 2**20)]
)
def test_memory_quantities(quantity: str, expected: int) -> None:
    assert manifests.memory_bytes(quantity) == expected


def test_cpu_quantities_and_nonsense() -> None:
    assert manifests.cpu_nanos("500m") == 5 * 10**8
    assert manifests.cpu_nanos("2") == 2 * 10**9
    with pytest.raises(ManifestError):
        manifests.memory_bytes("lots")


def test_a_hook_phase_that_is_not_run_is_refused() -> None:
    objects, _ = rendered()
    job = next(o for o in objects if o["kind"] == "Job")
    odd = {**job, "metadata": {**job["metadata"], "annotations": {manifests.HOOK: "SyncFail"}}}
    with pytest.raises(ManifestError, match="SyncFail"):
        manifests.workload(odd)


def test_a_hook_delete_policy_that_is_not_run_is_refused() -> None:
    objects, _ = rendered()
    job = next(o for o in objects if o["kind"] == "Job")
    annotations = {**job["metadata"]["annotations"], manifests.DELETE_POLICY: "HookSucceeded"}
    odd = {**job, "metadata": {**job["metadata"], "annotations": annotations}}
    with pytest.raises(ManifestError, match="HookSucceeded"):
        manifests.workload(odd)


@pytest.mark.parametrize(
    "strategy",
    [
        {"type": "Recreate"},
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
    ],
)
def test_a_rollout_strategy_other_than_the_charts_is_refused(strategy: dict[str, object]) -> None:
    objects, _ = rendered()
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert manifests.workload(deployment).kind == "Deployment"  # the chart's own strategy runs
    odd = {**deployment, "spec": {**deployment["spec"], "strategy": strategy}}
    with pytest.raises(ManifestError, match="strategy"):
        manifests.workload(odd)
