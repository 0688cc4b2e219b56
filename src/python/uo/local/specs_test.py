"""Rendered pod templates → what the engine is asked to run, field by field."""

from __future__ import annotations

import copy

import pytest

from uo.local import manifests, specs
from uo.local.manifests import ManifestError, Workload
from uo.local.rendered_testutil import rendered, topology
from uo.local.topology import ContainerSpec
from uo.local.wiring import Wiring

SECRETS = {
    ("user-db-credentials", "username"): "user",
    ("user-db-credentials", "password"): "pw-user",
    ("user-db-credentials", "database"): "user",
    ("user-api-client", "client-secret"): "client-secret-user",
}


def workload(workload_id: str) -> Workload:
    objects, _ = rendered()
    (found,) = [w for w in manifests.workloads(objects) if w.workload_id == workload_id]
    return found


def spec_of(workload_id: str) -> ContainerSpec:
    item = workload(workload_id)
    objects, _ = rendered()
    every = {(name, key): f"{name}/{key}" for _, name, key in manifests.secret_refs(objects)}
    env = specs.resolve_env(item, {**every, **SECRETS}, {})
    wired = topology().wiring[workload_id]
    (spec,) = specs.container_specs("test", item, wired, env, "img")
    return spec


def test_env_values_and_secret_references_are_resolved() -> None:
    spec = spec_of("user-service")
    assert spec.env["UO_DATABASE__HOST"] == "user-postgres"
    assert spec.env["UO_DATABASE__PASSWORD"] == "pw-user"
    assert spec.env["UO_JWKS_URL"] == "http://auth-api:8002/.well-known/jwks.json"
    assert spec.env["UO_ENVIRONMENT"] == "test"
    api = spec_of("user-api")
    assert api.env["UO_CLIENT_SECRET"] == "client-secret-user"
    assert api.env["UO_SERVICE_URL"] == "http://user-service:8001"


def test_a_missing_secret_key_is_an_error_naming_it() -> None:
    item = workload("user-service")
    with pytest.raises(ManifestError, match="user-db-credentials has no password"):
        specs.resolve_env(item, {k: v for k, v in SECRETS.items() if k[1] != "password"}, {})


def test_security_context_limits_probe_and_termination() -> None:
    spec = spec_of("user-api")
    assert spec.security.user == "10001:10001"
    assert spec.security.read_only
    assert spec.security.no_new_privileges
    assert spec.security.cap_drop == ("ALL",)
    assert spec.tmpfs == ("/tmp",)  # noqa: S108 - the rendered emptyDir
    assert spec.memory_limit == 256 * 2**20
    assert (spec.readiness.kind, spec.readiness.port, spec.readiness.path) == (
        "http",
        8002,
        "/health/ready",
    )
    # The rendered timing, and the kubelet's default where the chart sets none (successes).
    timing = spec.readiness
    assert (timing.period, timing.failures, timing.successes, timing.timeout) == (5, 2, 1, 3)
    assert spec.pre_stop_seconds == 1  # the local overlay
    assert spec.pre_stop_seconds + spec.stop_grace_seconds == 1 + 20 + 10


def test_the_database_gets_its_claim_as_a_named_volume_and_an_exec_probe() -> None:
    spec = spec_of("user-database")
    assert spec.volumes == {"uo-test-user-postgres-data": "/var/lib/postgresql/data"}
    assert spec.readiness.kind == "exec"
    assert spec.readiness.command[0] == "pg_isready"


def test_jobs_run_the_rendered_command_in_the_service_image() -> None:
    migrate = spec_of("user-migrate")
    assert migrate.entrypoint == ("/app/venv/pex", "migrate")
    register = spec_of("auth-register-user")
    assert register.entrypoint[1:] == ("register-client", "user-api", "--audience", "user-service")


def test_replicas_share_a_fingerprint() -> None:
    item = workload("user-api")
    many = Workload(**{**item.__dict__, "replicas": 3})
    replicas = specs.container_specs("test", many, topology().wiring["user-api"], {}, "img")
    assert [s.replica for s in replicas] == [0, 1, 2]
    assert len({s.fingerprint() for s in replicas}) == 1


def test_a_workload_nothing_may_reach_or_be_reached_by_is_refused() -> None:
    with pytest.raises(ManifestError, match="let nothing reach it"):
        specs.container_specs("test", workload("user-api"), Wiring(), {}, "img")


def test_writable_host_paths_and_unknown_volumes_are_refused() -> None:
    item = workload("environment-service")
    pod = copy.deepcopy(dict(item.pod))
    pod["containers"][0]["volumeMounts"].append({"name": "nowhere", "mountPath": "/x"})
    broken = Workload(**{**item.__dict__, "pod": pod})
    with pytest.raises(ManifestError, match="volume nowhere is not declared"):
        specs.mounts("test", broken)


def test_liveness_probes_and_restart_policy_come_from_the_pod_templates() -> None:
    api = spec_of("user-api")
    assert (api.liveness.kind, api.liveness.port, api.liveness.path) == (
        "http",
        8002,
        "/health/live",
    )
    assert (api.liveness.period, api.liveness.failures, api.liveness.timeout) == (10, 3, 1)
    assert api.restart
    database = spec_of("user-database")
    assert database.liveness.kind == "exec"
    assert database.liveness.command[0] == "pg_isready"
    assert database.restart
    migrate = spec_of("user-migrate")
    assert migrate.liveness.kind == "none"
    assert not migrate.restart  # a Job's pod runs once
