"""The dashboard's error-id search in the chart: with monitoring.logs.url the environment stack's
service — and nothing else — is told where the log reader answers, and may reach it there, on
its port only; the schema refuses a URL or port the service could not use."""

from __future__ import annotations

from typing import Any

import pytest

from charts.conftest import RenderWith
from charts.reachability_test import network_of
from charts.tracing_test import tier_env
from unifyops.platform.environment.environment_service.config import Settings
from uo.netpolicy import Pod
from uo.render import RenderError

URL = "http://logs.monitoring:3100"
MONITORING_POD = Pod(
    "monitoring-pod",
    "monitoring",
    (("app.kubernetes.io/name", "prometheus"),),
    ((9090, "TCP"), (3100, "TCP")),
    external=True,
)


def with_logs(values: dict[str, Any]) -> None:
    values["stack"] = "environment"
    values["monitoring"] = {
        "podLabels": {"app.kubernetes.io/name": "prometheus"},
        "logs": {"url": URL, "port": 3100},
    }


def test_only_the_environment_service_is_told_where_the_log_reader_answers(
    render_with: RenderWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_with(with_logs)
    env = tier_env(objects)
    assert {tier for tier, e in env.items() if "UO_LOGS_URL" in e} == {"service"}
    monkeypatch.setenv("UO_LOGS_URL", env["service"]["UO_LOGS_URL"])
    assert Settings(service_name="environment-service").logs_url == URL
    [policy] = [o for o in objects if o["metadata"]["name"] == "environment-allow-logs-query"]
    assert policy["spec"]["policyTypes"] == ["Egress"]

    def auth_with_logs(values: dict[str, Any]) -> None:
        with_logs(values)
        values["stack"] = "auth"

    auth = render_with(auth_with_logs)
    assert not any("UO_LOGS_URL" in e for e in tier_env(auth).values())
    assert not [o for o in auth if o["metadata"]["name"].endswith("-allow-logs-query")]
    plain = render_with(lambda values: values.update(stack="environment"))
    assert not any("UO_LOGS_URL" in e for e in tier_env(plain).values())
    assert not [o for o in plain if o["metadata"]["name"].endswith("-allow-logs-query")]


def test_only_the_environment_service_reaches_the_log_reader_and_only_its_port(
    render_with: RenderWith,
) -> None:
    network = network_of("dev", render_with(with_logs))
    network.pods.append(MONITORING_POD)
    reachable = {
        (s, port) for s, target, port, _ in network.reachable() if target == "monitoring-pod"
    }
    assert {s for s, port in reachable if port == 3100} == {"environment-service"}
    assert (
        "environment-service",
        9090,
    ) not in reachable  # no query URL: Prometheus' API stays shut


@pytest.mark.parametrize(
    ("logs", "complaint"),
    [
        ({"url": "logs:3100"}, "url"),
        ({"url": "http://logs:3100/v1/trace"}, "url"),
        ({"url": URL, "port": 70000}, "port"),
        ({"url": URL, "token": "x"}, "token"),
    ],
)
def test_the_schema_refuses_a_reader_the_service_could_not_use(
    render_with: RenderWith, logs: dict[str, Any], complaint: str
) -> None:
    def edit(values: dict[str, Any]) -> None:
        with_logs(values)
        values["monitoring"]["logs"] = logs

    with pytest.raises(RenderError, match=complaint):
        render_with(edit)
