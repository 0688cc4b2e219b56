"""The dashboard's running side in the chart: every tier reports the image it was started from
(UO_IMAGE, in build info), and with monitoring.query.url the environment stack's service — and
nothing else — is told where Prometheus' API is and may reach it there."""

from __future__ import annotations

from typing import Any

import pytest

from charts.conftest import RenderWith
from charts.reachability_test import network_of
from charts.tracing_test import tier_env
from unifyops.platform.environment.environment_service.config import Settings
from unifyops_core.naming import IMAGE_TIERS
from uo.netpolicy import Pod
from uo.render import Manifest, RenderError

URL = "http://prometheus-operated.monitoring:9090"
PROMETHEUS_API = Pod(
    "prometheus-api",
    "monitoring",
    (("app.kubernetes.io/name", "prometheus"),),
    ((9090, "TCP"),),
    external=True,
)


def environment_stack(values: dict[str, Any]) -> None:
    values["stack"] = "environment"


def with_query(values: dict[str, Any]) -> None:
    environment_stack(values)
    values["monitoring"] = {
        "podLabels": {"app.kubernetes.io/name": "prometheus"},
        "query": {"url": URL, "port": 9090},
    }


def images(objects: list[Manifest]) -> dict[str, str]:
    found = {}
    for obj in objects:
        if obj["kind"] == "Deployment":
            tier = obj["spec"]["template"]["metadata"]["labels"]["unifyops.io/tier"]
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            found[tier] = container["image"]
    return found


def test_every_tier_reports_the_image_it_runs(render_with: RenderWith) -> None:
    objects = render_with(lambda values: None)
    env, rendered = tier_env(objects), images(objects)
    assert set(env) == set(IMAGE_TIERS)
    for tier in IMAGE_TIERS:
        assert env[tier]["UO_IMAGE"] == rendered[tier]
        assert "@sha256:" in rendered[tier] or ":" in rendered[tier]


def test_only_the_environment_service_is_told_where_prometheus_answers(
    render_with: RenderWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tier_env(render_with(with_query))
    assert {tier for tier, e in env.items() if "UO_PROMETHEUS_URL" in e} == {"service"}
    assert env["service"]["UO_PROMETHEUS_URL"] == URL
    monkeypatch.setenv("UO_PROMETHEUS_URL", env["service"]["UO_PROMETHEUS_URL"])
    assert Settings(service_name="environment-service").prometheus_url == URL

    # Another stack given the same values is not: only desiredState.stack reads the live state.
    def auth_with_query(values: dict[str, Any]) -> None:
        with_query(values)
        values["stack"] = "auth"

    assert not any(
        "UO_PROMETHEUS_URL" in e for e in tier_env(render_with(auth_with_query)).values()
    )
    # Without a URL nothing is told and no policy opens the way.
    plain = render_with(environment_stack)
    assert not any("UO_PROMETHEUS_URL" in e for e in tier_env(plain).values())
    assert not [o for o in plain if o["metadata"]["name"].endswith("-allow-prometheus-query")]


def test_only_the_environment_service_reaches_prometheus_and_only_its_api_port(
    render_with: RenderWith,
) -> None:
    network = network_of("dev", render_with(with_query))
    network.pods.append(PROMETHEUS_API)
    callers = {s for s, target, _, _ in network.reachable() if target == "prometheus-api"}
    assert callers == {"environment-service"}
    service = next(p for p in network.pods if p.name == "environment-service")
    other = Pod("grafana", "monitoring", (("app.kubernetes.io/name", "grafana"),), external=True)
    assert not network.allows(service, other, 9090)  # the podLabels narrow it to Prometheus
    assert not network.allows(service, PROMETHEUS_API, 9091)


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ({"url": "prometheus:9090"}, "url"),
        ({"url": "http://prometheus:9090/api/v1/query"}, "url"),
        ({"url": URL, "port": 0}, "port"),
        ({"url": URL, "interval": "5s"}, "interval"),
    ],
)
def test_the_schema_refuses_a_query_the_service_could_not_use(
    render_with: RenderWith, query: dict[str, Any], complaint: str
) -> None:
    def edit(values: dict[str, Any]) -> None:
        with_query(values)
        values["monitoring"]["query"] = query

    with pytest.raises(RenderError, match=complaint):
        render_with(edit)
