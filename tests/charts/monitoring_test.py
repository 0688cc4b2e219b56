"""Monitoring: the metrics port on the pods (never on a Service), the PodMonitor and alerts when
monitoring is enabled and nothing of them when it is not, and a dashboard whose every query asks
for series that the core really exports (names taken from a real app's registry)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import httpx
import pytest
import yaml
from fastapi import FastAPI

from charts.conftest import ALL_TARGETS, REPO, RenderWith, base_values, rendered
from unifyops_core.app import create_service_app
from unifyops_core.db import Database, DatabaseSettings
from unifyops_core.exceptions import RecordNotFoundError
from unifyops_core.naming import IMAGE_TIERS, STACKS
from unifyops_core.settings import ServiceSettings
from uo.render import Manifest, RenderError, render_values

DASHBOARD = REPO / "src/charts/unifyops-stack/dashboards/unifyops-stack.json"
METRICS_PORT = 9464
# Series that come from elsewhere: Prometheus itself, and kube-state-metrics for pod and Job
# state the tiers cannot report about themselves.
EXTERNAL_SERIES = {
    "up",
    "kube_deployment_status_replicas_unavailable",
    "kube_statefulset_replicas",
    "kube_statefulset_status_replicas_ready",
    "kube_job_status_failed",
}
# Labels Prometheus adds to every scraped series: the PodMonitor's defaults and relabelings.
TARGET_LABELS = {"namespace", "pod", "stack", "tier", "job", "instance", "container"}
KSM_LABELS = {"deployment", "statefulset", "job_name"}
ALERTS = {
    "UnifyOpsHighErrorRate",
    "UnifyOpsHighLatencyP99",
    "UnifyOpsPodsNotReady",
    "UnifyOpsMigrationJobFailed",
    "UnifyOpsTargetDown",
}

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (no functions, keywords or label names)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^{}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    grouping = r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, "", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def promql_grouping_labels(expr: str) -> set[str]:
    found = re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
    return {label.strip() for group in found for label in group.split(",") if label.strip()}


def test_the_promql_reader_itself() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (tier, le) (rate(a_bucket{x="y(z)", stack="$stack"}'
        "[$__rate_interval]))) / on (pod) group_left () b > 0 or c_total offset 5m"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b", "c_total"}
    assert promql_grouping_labels(expr) == {"tier", "le"}


def demo_app() -> FastAPI:
    # A port other than 0 turns metrics on; the lifespan that would bind it never runs here.
    settings = ServiceSettings(service_name="demo-service", metrics_port=METRICS_PORT)
    app = create_service_app(settings, version="1")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id != 1:
            raise RecordNotFoundError("Item not found")
        return {"id": item_id}

    return app


@pytest.fixture(scope="module")
def exported() -> tuple[set[str], set[str]]:
    """(sample names, label names) a tier exports once it has served a 200 and a 404."""
    import asyncio

    async def drive() -> tuple[set[str], set[str]]:
        app = demo_app()
        database = Database(DatabaseSettings())  # no connection is opened: the pool is read
        app.state.metrics.watch_pool(database.engine.pool)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as http:
                assert (await http.get("/items/1")).status_code == 200
                assert (await http.get("/items/2")).status_code == 404
            samples = [s for f in app.state.metrics.registry.collect() for s in f.samples]
            return {s.name for s in samples}, {label for s in samples for label in s.labels}
        finally:
            await database.dispose()

    return asyncio.run(drive())


def enabled(values: dict[str, Any]) -> None:
    values["monitoring"] = {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def pod_templates(objects: list[Manifest]) -> list[Manifest]:
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def container(workload: Manifest) -> dict[str, Any]:
    first: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return first


def test_disabled_renders_no_monitors_and_no_rules() -> None:
    for target in ALL_TARGETS:
        kinds = {o["kind"] for o in rendered(target)}
        assert not kinds & {"PodMonitor", "ServiceMonitor", "PrometheusRule"}, target


def test_the_metrics_port_is_on_every_tiers_pods_and_never_on_a_service() -> None:
    for target in ALL_TARGETS:
        objects = rendered(target)
        for workload in pod_templates(objects):
            tier = workload["spec"]["template"]["metadata"]["labels"]["unifyops.io/tier"]
            ports = {p["name"]: p["containerPort"] for p in container(workload).get("ports", [])}
            env = {e["name"]: e.get("value") for e in container(workload).get("env", [])}
            if workload["kind"] == "Deployment" and tier in IMAGE_TIERS:
                assert ports["metrics"] == METRICS_PORT
                assert env["UO_METRICS_PORT"] == str(METRICS_PORT)
            else:
                assert "metrics" not in ports
                assert "UO_METRICS_PORT" not in env
        for service in of_kind(objects, "Service"):
            for port in service["spec"]["ports"]:
                assert port["targetPort"] != "metrics"
                assert port["port"] != METRICS_PORT


def test_enabled_renders_a_pod_monitor_for_exactly_the_pods_with_metrics(
    render_with: RenderWith,
) -> None:
    objects = render_with(enabled)
    (monitor,) = of_kind(objects, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["uo-dev"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    relabelled = {r["targetLabel"]: r["sourceLabels"] for r in endpoint["relabelings"]}
    assert relabelled == {
        "stack": ["__meta_kubernetes_pod_label_unifyops_io_stack"],
        "tier": ["__meta_kubernetes_pod_label_unifyops_io_tier"],
    }
    scraped = {
        w["metadata"]["name"]
        for w in pod_templates(objects)
        if selects(monitor["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
    }
    assert scraped == {"auth-app", "auth-api", "auth-service"}
    for workload in pod_templates(objects):
        if workload["metadata"]["name"] in scraped:
            assert "metrics" in {p["name"] for p in container(workload)["ports"]}


def test_enabled_renders_the_alerts_on_series_that_exist(
    render_with: RenderWith, exported: tuple[set[str], set[str]]
) -> None:
    names, labels = exported
    (rule,) = of_kind(render_with(enabled), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == ALERTS
    for name, alert in alerts.items():
        expr = alert["expr"]
        assert promql_metric_names(expr) <= names | EXTERNAL_SERIES, name
        assert promql_grouping_labels(expr) <= labels | TARGET_LABELS | KSM_LABELS, name
        assert 'namespace="uo-dev"' in expr, name  # one environment's alerts per release
        assert alert["labels"]["severity"] in ("warning", "critical")
    assert alerts["UnifyOpsHighErrorRate"]["expr"].endswith("> 0.05")
    assert 'status=~"5.."' in alerts["UnifyOpsHighErrorRate"]["expr"]
    assert alerts["UnifyOpsHighLatencyP99"]["expr"].endswith("> 1")
    assert 'job_name=~"auth-migrate-.*"' in alerts["UnifyOpsMigrationJobFailed"]["expr"]
    assert 'deployment=~"auth-(api|app|service)"' in alerts["UnifyOpsPodsNotReady"]["expr"]
    # Prometheus' own template syntax reaches the rule untouched by Helm.
    assert "{{ $labels.tier }}" in alerts["UnifyOpsHighErrorRate"]["annotations"]["summary"]


def test_the_migration_alert_matches_the_rendered_job_name(render_with: RenderWith) -> None:
    objects = render_with(enabled)
    (rule,) = of_kind(objects, "PrometheusRule")
    expr = next(r["expr"] for r in rule["spec"]["groups"][0]["rules"] if "Migration" in r["alert"])
    pattern = re.search(r'job_name=~"([^"]+)"', expr)
    assert pattern is not None
    jobs = [o["metadata"]["name"] for o in of_kind(objects, "Job")]
    migrations = [j for j in jobs if re.fullmatch(pattern.group(1), j)]
    assert len(migrations) == 1
    assert migrations[0].startswith("auth-migrate-")


def test_a_tier_without_a_metrics_port_is_neither_opened_nor_scraped(
    render_with: RenderWith,
) -> None:
    def edit(values: dict[str, Any]) -> None:
        enabled(values)
        values["tiers"]["service"]["metricsPort"] = 0

    objects = render_with(edit)
    (service,) = [
        o for o in of_kind(objects, "Deployment") if o["metadata"]["name"] == "auth-service"
    ]
    assert "metrics" not in {p["name"] for p in container(service)["ports"]}
    policies = {o["metadata"]["name"] for o in of_kind(objects, "NetworkPolicy")}
    assert "auth-api-metrics" in policies
    assert "auth-service-metrics" not in policies
    (monitor,) = of_kind(objects, "PodMonitor")
    assert monitor["spec"]["selector"]["matchExpressions"][0]["values"] == ["api", "app"]


def test_helm_lint_is_clean_with_monitoring_enabled() -> None:
    values = base_values()
    enabled(values)
    report = helm_python.lint(
        REPO / "src/charts/unifyops-stack", values, strict=True, namespace="uo-dev"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def test_the_schema_refuses_an_unknown_monitoring_key(render_with: RenderWith) -> None:
    def edit(values: dict[str, Any]) -> None:
        values["monitoring"] = {"enabeld": True}

    with pytest.raises(RenderError, match="enabeld"):
        render_with(edit)


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_dashboard_is_valid_and_asks_only_for_exported_series(
    exported: tuple[set[str], set[str]],
) -> None:
    names, labels = exported
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["datasource"]["uid"] == "${datasource}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "stack"}
    queries = dashboard_queries(dashboard)
    used = set()
    for expr in queries:
        found = promql_metric_names(expr)
        assert found, expr
        assert found <= names, (expr, found - names)
        assert promql_grouping_labels(expr) <= labels | TARGET_LABELS, expr
        # every selector is for one stack of one environment
        selectors = re.findall(r"\{([^{}]*)\}", expr)
        assert len(selectors) == len(re.findall(r"[\w:]+\{", expr))
        for selector in selectors:
            assert 'namespace="$namespace"' in selector, expr
            assert 'stack="$stack"' in selector, expr
        used |= found
    for name in ("namespace", "stack"):
        query = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variables[name]["query"]["query"])
        assert query is not None, name
        assert promql_metric_names(query.group(1)) == {"uo_build_info"}
        assert query.group(2) == name
    # the headline series are all on it
    assert {
        "uo_http_requests_total",
        "uo_http_request_errors_total",
        "uo_http_request_duration_seconds_bucket",
        "uo_db_pool_checked_out",
        "uo_build_info",
    } <= used


def promtool() -> str:
    found = shutil.which("promtool")  # with no PATH (a Pants sandbox) the default path is searched
    assert found, "promtool is missing: install Debian's prometheus package (it provides it)"
    return found


def rules_of(stack: str) -> dict[str, Any]:
    values = base_values("dev", stack)
    enabled(values)
    (rule,) = of_kind(
        render_values(REPO, values, release=stack, namespace="uo-dev"), "PrometheusRule"
    )
    spec: dict[str, Any] = rule["spec"]
    return spec


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_promtool_accepts_the_rules(stack: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rules_of(stack)))
    result = subprocess.run(
        [promtool(), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_on_what_they_are_for_and_not_otherwise(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules_of("user")))
    base = 'namespace="uo-dev", stack="user", tier="api", method="GET", route="/users/{user_id}"'
    other = 'namespace="uo-dev", stack="auth", tier="api", method="GET", route="/x"'
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # user: 10% of requests fail with a 500 for 30 minutes
                    {
                        "series": f'uo_http_requests_total{{{base}, status="200"}}',
                        "values": "0+90x30",
                    },
                    {
                        "series": f'uo_http_requests_total{{{base}, status="500"}}',
                        "values": "0+10x30",
                    },
                    # auth: 1% fail, under the threshold
                    {
                        "series": f'uo_http_requests_total{{{other}, status="200"}}',
                        "values": "0+99x30",
                    },
                    {
                        "series": f'uo_http_requests_total{{{other}, status="500"}}',
                        "values": "0+1x30",
                    },
                    {
                        "series": "kube_job_status_failed"
                        '{namespace="uo-dev", job_name="user-migrate-0123456789"}',
                        "values": "0 0 1 1 1",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": "UnifyOpsHighErrorRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "namespace": "uo-dev",
                                    "stack": "user",
                                    "tier": "api",
                                },
                                "exp_annotations": {
                                    "summary": "user api: 10% of requests fail with a 5xx",
                                    "description": "Look up the error_ids of the failures in "
                                    "the tier's log (uniform error shape).",
                                },
                            }
                        ],
                    },
                    {"eval_time": "5m", "alertname": "UnifyOpsHighErrorRate", "exp_alerts": []},
                    {
                        "eval_time": "4m",
                        "alertname": "UnifyOpsMigrationJobFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "namespace": "uo-dev",
                                    "job_name": "user-migrate-0123456789",
                                },
                                "exp_annotations": {
                                    "summary": "user: migration Job user-migrate-0123456789 "
                                    "failed; the rollout waits",
                                    "description": "kubectl -n uo-dev logs "
                                    "job/user-migrate-0123456789",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "1m",
                        "alertname": "UnifyOpsMigrationJobFailed",
                        "exp_alerts": [],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        [promtool(), "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
