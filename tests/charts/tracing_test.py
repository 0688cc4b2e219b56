"""Traces in the chart: every tier with an image of its own is told where spans go (UO_TRACES,
the OTLP endpoint, the sample ratio) and a tier's own settings accept what the chart renders; with
OTLP, the collector pods and only they become reachable from those tiers, on the OTLP port."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from charts.conftest import REPO, RenderWith
from charts.reachability_test import network_of
from unifyops_core.naming import IMAGE_TIERS
from unifyops_core.settings import ServiceSettings
from uo.netpolicy import Pod
from uo.render import Manifest, RenderError
from uo_appserver.settings import Settings as AppSettings

ENDPOINT = "http://otel-collector.monitoring:4318"
COLLECTOR = Pod(
    "collector",
    "monitoring",
    (("app.kubernetes.io/name", "otel-collector"),),
    ((4318, "TCP"),),
    external=True,
)


def otlp(values: dict[str, Any]) -> None:
    values["tracing"] = {"exporter": "otlp", "otlpEndpoint": ENDPOINT, "sampleRatio": 0.25}


def tier_env(objects: list[Manifest]) -> dict[str, dict[str, str]]:
    """tier -> the env its container is given literally (Deployments only)."""
    found = {}
    for obj in objects:
        if obj["kind"] == "Deployment":
            tier = obj["spec"]["template"]["metadata"]["labels"]["unifyops.io/tier"]
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            found[tier] = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return found


def test_tracing_is_off_unless_values_turn_it_on(render_with: RenderWith) -> None:
    objects = render_with(lambda values: None)
    env = tier_env(objects)
    assert set(env) == set(IMAGE_TIERS)
    for tier in IMAGE_TIERS:
        assert env[tier]["UO_TRACES"] == "off"
        assert "UO_OTLP_ENDPOINT" not in env[tier]
    assert not [o for o in objects if o["metadata"]["name"].endswith("-allow-otlp")]


def test_otlp_tells_every_tier_where_and_how_much_and_its_settings_accept_it(
    render_with: RenderWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tier_env(render_with(otlp))
    for tier in IMAGE_TIERS:
        assert env[tier]["UO_TRACES"] == "otlp"
        assert env[tier]["UO_OTLP_ENDPOINT"] == ENDPOINT
        assert env[tier]["UO_TRACE_SAMPLE_RATIO"] == "0.25"
    for name, value in env["service"].items():
        if name in TRACE_ENV:
            monkeypatch.setenv(name, value)
    service = ServiceSettings(service_name="auth-service")
    assert (service.traces, service.otlp_endpoint, service.trace_sample_ratio) == (
        "otlp",
        ENDPOINT,
        0.25,
    )
    app = AppSettings.from_env({**env["app"], "UO_API_URL": "http://auth-api:8002"})
    assert (app.traces, app.otlp_endpoint, app.trace_sample_ratio) == ("otlp", ENDPOINT, 0.25)


TRACE_ENV = {"UO_TRACES", "UO_OTLP_ENDPOINT", "UO_TRACE_SAMPLE_RATIO"}


def test_with_otlp_the_tiers_and_only_they_reach_the_collector(render_with: RenderWith) -> None:
    network = network_of("dev", render_with(otlp))
    network.pods.append(COLLECTOR)
    reachable = network.reachable()
    to_collector = {source for source, target, _, _ in reachable if target == "collector"}
    assert to_collector == {f"auth-{tier}" for tier in IMAGE_TIERS}
    assert {port for _, target, port, _ in reachable if target == "collector"} == {4318}
    # The collector's namespace is not opened for anything else: not Prometheus' port, not DNS.
    api = next(p for p in network.pods if p.name == "auth-api")
    elsewhere = Pod("grafana", "monitoring", (("app", "grafana"),), ((3000, "TCP"),), external=True)
    assert network.allows(api, elsewhere, 4318)  # any pod of the namespace, unless narrowed...
    assert not network.allows(api, elsewhere, 3000)


def test_collector_pod_labels_narrow_the_egress(render_with: RenderWith) -> None:
    def edit(values: dict[str, Any]) -> None:
        otlp(values)
        values["tracing"]["collector"] = {
            "namespace": "observability",
            "podLabels": {"app.kubernetes.io/name": "otel-collector"},
        }

    network = network_of("dev", render_with(edit))
    api = next(p for p in network.pods if p.name == "auth-api")
    collector = Pod("collector", "observability", COLLECTOR.labels, external=True)
    other = Pod("other", "observability", (("app", "other"),), external=True)
    assert network.allows(api, collector, 4318)
    assert not network.allows(api, other, 4318)
    assert not network.allows(api, COLLECTOR, 4318)  # the default namespace no longer


@pytest.mark.parametrize(
    ("tracing", "complaint"),
    [
        ({"exporter": "otlp"}, "otlpEndpoint"),
        ({"exporter": "otlp", "otlpEndpoint": "otel-collector:4318"}, "otlpEndpoint"),
        ({"exporter": "jaeger"}, "exporter"),
        ({"exporter": "log", "sampleRatio": 2}, "sampleRatio"),
        ({"exporter": "log", "colector": {}}, "colector"),
    ],
)
def test_the_schema_refuses_what_a_tier_would_refuse_at_start(
    render_with: RenderWith, tracing: dict[str, Any], complaint: str
) -> None:
    def edit(values: dict[str, Any]) -> None:
        values["tracing"] = tracing

    with pytest.raises(RenderError, match=complaint):
        render_with(edit)


def test_the_local_overlay_writes_spans_to_the_log() -> None:
    overlay = yaml.safe_load((REPO / "infra/local/values.yaml").read_text())
    assert overlay["tracing"]["exporter"] == "log"
