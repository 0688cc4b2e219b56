"""The Prometheus of `uo up`, derived from the chart rendered for environment ``test`` with the
real Helm engine: scrape targets from the PodMonitors, rules from the PrometheusRules, and the
metrics ports open to it (and to nothing else) by the NetworkPolicies."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from unifyops_core.naming import IMAGE_TIERS, STACKS
from uo.local import manifests, monitoring, values, wiring
from uo.local.manifests import ManifestError
from uo.local.reconcile import Plan, wired_topology
from uo.local.rendered_testutil import REPO, TAGS, rendered
from uo.local.topology import LABEL
from uo.render import Manifest, deep_merge

METRICS_TIERS = IMAGE_TIERS  # every tier with an image of its own serves metrics (chart 0.2.3)


def jobs_of(objects: list[Manifest]) -> list[monitoring.ScrapeJob]:
    return monitoring.scrape_jobs(
        objects, manifests.workloads(objects), manifests.services(objects), "uo-test"
    )


def render(stack: str, **overrides: Any) -> list[Manifest]:
    stack_values = values.stack_values(REPO, "test", stack, image_tags=TAGS, registry="")
    return values.render_stack(REPO, "test", stack, deep_merge(stack_values, overrides))


def plan(prometheus: str | None = "prometheus-image") -> Plan:
    return Plan("test", None, "edge-image", repo=str(REPO), prometheus_image=prometheus)


def test_every_tier_with_a_metrics_port_is_a_target_with_the_pod_monitors_labels() -> None:
    objects, _ = rendered()
    jobs = {(j.labels["stack"], j.labels["tier"]): j for j in jobs_of(objects)}
    assert set(jobs) == {(stack, tier) for stack in STACKS for tier in METRICS_TIERS}
    job = jobs[("user", "api")]
    assert job.dns_names == ("user-api",)  # the Service it serves under on its network
    assert (job.port, job.path, job.interval) == (9464, "/metrics", "10s")
    assert job.labels == {
        "namespace": "uo-test",
        "pod": "user-api",
        "container": "api",
        "endpoint": "metrics",
        "job": "uo-test/user",
        "stack": "user",
        "tier": "api",
    }


def test_the_targets_follow_what_the_chart_renders() -> None:
    # A tier whose metrics port is 0 is neither selected by the PodMonitor nor scraped.
    without_api = render("user", tiers={"api": {"metricsPort": 0}})
    assert {j.labels["tier"] for j in jobs_of(without_api)} == {"app", "service"}
    # Another interval in the values is the scrape interval.
    slower = render("user", monitoring={"interval": "45s"})
    assert {j.interval for j in jobs_of(slower)} == {"45s"}
    # Monitoring off: no PodMonitor, no target, no rules.
    off = render("user", monitoring={"enabled": False})
    assert jobs_of(off) == []
    assert monitoring.rule_groups(off) == []


def test_a_port_the_pods_do_not_declare_is_refused_by_name() -> None:
    objects = copy.deepcopy(render("user"))
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    monitor["spec"]["podMetricsEndpoints"][0]["port"] = "scrape"
    refused = "PodMonitor/user: user-service declares no port 'scrape'"
    with pytest.raises(ManifestError, match=refused):
        jobs_of(objects)


def test_a_relabeling_it_cannot_run_is_refused_rather_than_dropped() -> None:
    objects = copy.deepcopy(render("user"))
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    endpoint["relabelings"].append({"action": "drop", "sourceLabels": ["__name__"]})
    with pytest.raises(ManifestError, match="PodMonitor/user: relabeling"):
        jobs_of(objects)


def test_a_monitor_of_another_namespace_selects_nothing_here() -> None:
    objects = copy.deepcopy(render("user"))
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    monitor["spec"]["namespaceSelector"] = {"matchNames": ["uo-prod"]}
    assert jobs_of(objects) == []


def test_the_rules_are_every_stacks_prometheus_rule() -> None:
    objects, _ = rendered()
    groups = monitoring.rule_groups(objects)
    assert [g["name"] for g in groups] == [f"unifyops-{stack}" for stack in STACKS]
    alerts = {r["alert"] for g in groups for r in g["rules"]}
    assert "UnifyOpsTargetDown" in alerts
    with pytest.raises(ManifestError, match="defined twice"):
        monitoring.rule_groups([*objects, *[o for o in objects if o["kind"] == "PrometheusRule"]])


def test_promtool_accepts_the_generated_config_and_rules(tmp_path: Path) -> None:
    objects, _ = rendered()
    groups = monitoring.rule_groups(objects)
    text = monitoring.config(jobs_of(objects), with_rules=True)
    (tmp_path / "prometheus.yml").write_text(text)
    (tmp_path / "rules.yml").write_text(monitoring.rules(groups))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: build-support/services/promtool.sh installs it"
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr
    parsed = yaml.safe_load(text)
    scrape = next(c for c in parsed["scrape_configs"] if c["job_name"].endswith("/auth-service"))
    assert scrape["dns_sd_configs"] == [
        {"names": ["auth-service"], "type": "A", "port": 9464, "refresh_interval": "5s"}
    ]
    assert {"target_label": "tier", "replacement": "service"} in scrape["relabel_configs"]


def test_prometheus_reaches_exactly_the_metrics_ports_and_only_the_dashboard_reaches_it() -> None:
    objects, first = rendered()
    topo = wired_topology(plan(), objects, first)
    expected = {
        (wiring.network_name("test", f"{s}-{t}"), (9464,)) for s in STACKS for t in METRICS_TIERS
    }
    client = topo.wiring[monitoring.PROMETHEUS].client
    assert {(net, a.ports) for net, a in client.items()} == expected
    # It serves its API under the host of the URL the chart gives the environment service, on
    # a network only that service joins (the chart's allow-prometheus-query policy).
    own = wiring.network_name("test", monitoring.PROMETHEUS)
    assert topo.wiring[monitoring.PROMETHEUS].serving == {
        own: wiring.Attachment(aliases=("prometheus.monitoring",), ports=(9090,))
    }
    assert topo.wiring["environment-service"].client[own].ports == (9090,)
    joined = {wid for wid, w in topo.wiring.items() if own in w.client}
    assert joined == {"environment-service"}
    # The metrics port is open on a tier's network now, but only Prometheus may use it.
    opened = topo.wiring["user-api"].serving[wiring.network_name("test", "user-api")]
    assert opened.ports == (8002, 9464)
    metrics_callers = {source for source, _, port, _ in topo.allowed if port == 9464}
    assert metrics_callers == {monitoring.PROMETHEUS}
    callers = {source for source, target, _, _ in topo.allowed if target == monitoring.PROMETHEUS}
    assert callers == {"environment-service"}


def test_without_a_query_url_nothing_reaches_prometheus() -> None:
    objects, first = rendered()
    unset = copy.deepcopy(first)
    unset["monitoring"]["query"]["url"] = ""
    objects = [o for o in objects if not o["metadata"]["name"].endswith("allow-prometheus-query")]
    topo = wired_topology(plan(), objects, unset)
    assert not topo.wiring[monitoring.PROMETHEUS].serving
    assert not any(target == monitoring.PROMETHEUS for _, target, _, _ in topo.allowed)


def test_a_prometheus_outside_the_allowed_pods_gets_no_network() -> None:
    objects, first = rendered()
    elsewhere = copy.deepcopy(first)
    elsewhere["monitoring"]["podLabels"] = {"app.kubernetes.io/name": "grafana"}
    topo = wired_topology(plan(), objects, elsewhere)
    assert topo.wiring[monitoring.PROMETHEUS].client == {}
    # Without a Prometheus image nothing of it is wired, and the metrics ports stay shut.
    topo = wired_topology(plan(None), objects, first)
    assert monitoring.PROMETHEUS not in topo.wiring
    assert not any(port == 9464 for _, _, port, _ in topo.allowed)


def test_the_container_is_locked_down_and_published_on_loopback_only() -> None:
    objects, first = rendered()
    wired = wired_topology(plan(), objects, first).wiring[monitoring.PROMETHEUS]
    config = monitoring.config(jobs_of(objects), with_rules=True)
    spec = monitoring.prometheus_spec(
        "test", "img", wired, config, "groups: []\n", published=monitoring.host_port("test")
    )
    assert spec.name.startswith("uo-test-monitoring-prometheus-")
    assert spec.ports == {9090: 25090}
    assert monitoring.host_port("local") == 9090
    assert spec.security.user == "10001:10001"
    assert spec.security.read_only
    assert spec.security.no_new_privileges
    assert spec.security.cap_drop == ("ALL",)
    assert spec.volumes == {"uo-test-monitoring-prometheus-data": "/prometheus"}
    assert spec.readiness.path == "/-/ready"
    other = monitoring.prometheus_spec("test", "img", wired, config + "# changed\n", "")
    assert other.fingerprint() != spec.fingerprint()  # a new config replaces the container


def test_the_log_reader_mounts_each_log_file_read_only_and_runs_as_no_one_special() -> None:
    """Only the containers' log files (not the engine's container directory, whose configs hold
    every container's env and so its secrets), an index naming each, a non-root user that reads
    root's 0640 files through group 0, and no capability."""

    def container(cid: str, tier: str, log_path: str, created: str) -> SimpleNamespace:
        labels = {f"{LABEL}.environment": "test", f"{LABEL}.tier": tier, "other": "x"}
        attrs = {"LogPath": log_path, "Created": created}
        return SimpleNamespace(id=cid, name=f"uo-test-{tier}", labels=labels, attrs=attrs)

    found = monitoring.log_files(
        [
            container("b2", "api", "/engine/containers/b2/b2-json.log", "2026-01-02"),
            container("a1", "service", "/engine/containers/a1/a1-json.log", "2026-01-01"),
            container("c3", "app", "", "2026-01-03"),  # never started: no log yet
            container("d4", monitoring.LOGS, "/engine/containers/d4/d4-json.log", "2026-01-04"),
        ]
    )
    assert [f.container_id for f in found] == ["a1", "b2"]
    spec = monitoring.logs_spec("test", "unifyops/logs:x", found, "f" * 64)
    assert spec.binds == {
        "/engine/containers/a1/a1-json.log": "/logs/a1.log",
        "/engine/containers/b2/b2-json.log": "/logs/b2.log",
    }
    index = json.loads(spec.env["UO_LOGS_INDEX"])
    assert [entry["id"] for entry in index] == ["a1", "b2"]
    assert index[0]["labels"] == {f"{LABEL}.environment": "test", f"{LABEL}.tier": "service"}
    assert spec.security.user == "10001:10001"
    assert spec.security.group_add == ("0",)
    assert spec.security.cap_drop == ("ALL",)
    assert spec.security.read_only
    assert spec.security.no_new_privileges
    assert not spec.serving_networks  # it serves from the Prometheus pod's namespace
    later = monitoring.log_files([container("e5", "api", "/e5.log", "2026-01-05")])
    assert monitoring.logs_spec("test", "unifyops/logs:x", later, "f" * 64).fingerprint() != (
        spec.fingerprint()
    )
