"""The app server's Prometheus metrics: the tiers' series (unifyops_core.metrics) on their own
port, labelled by route template, errors by their error_type, and nothing on the public port."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from uo_appserver.conftest import FakeGateway, app_server, running
from uo_appserver.settings import Settings, app_name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_requests_are_counted_by_route_template_and_error_type(
    bundle: Path, gateway: tuple[FakeGateway, str]
) -> None:
    port = free_port()
    image = "unifyops/user-app:0123456789abcdef0123456789abcdef01234567"
    server = app_server(bundle, gateway[1], metrics_port=port, environment="test", image=image)
    with running(server) as url:
        assert httpx.get(f"{url}/items/123").status_code == 200  # the bundle's index
        assert httpx.get(f"{url}/items/456").status_code == 200
        assert httpx.get(f"{url}/api/v1/anything").status_code == 200  # relayed
        assert httpx.get(f"{url}/api/v1/crash").status_code == 502  # the gateway failed
        assert httpx.get(f"{url}/metrics").text.startswith("<!doctype html>")  # not here
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert scraped.status_code == 200
    requests = samples(scraped.text, "uo_http_requests_total")
    spa = (("method", "GET"), ("route", "/{path:path}"), ("status", "200"))
    assert requests[spa] == 3.0  # two pages and the /metrics miss: ids never become labels
    api = (("method", "GET"), ("route", "/api/{path:path}"), ("status", "200"))
    assert requests[api] == 1.0
    errors = samples(scraped.text, "uo_http_request_errors_total")
    assert errors == {
        (
            ("error_type", "downstream_error"),
            ("method", "GET"),
            ("route", "/api/{path:path}"),
            ("status", "502"),
        ): 1.0
    }
    (info,) = samples(scraped.text, "uo_build_info").keys()
    assert dict(info)["environment"] == "test"
    assert dict(info)["service_name"] == "app"  # the fake gateway's host is no <stack>-api
    assert dict(info)["image"] == image


def test_no_metrics_port_serves_nothing_extra(
    bundle: Path, gateway: tuple[FakeGateway, str]
) -> None:
    port = free_port()
    with running(app_server(bundle, gateway[1])) as url:
        assert httpx.get(f"{url}/health/ready").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_the_app_is_named_after_its_gateway() -> None:
    assert app_name("http://user-api:8002") == "user-app"
    assert app_name("http://127.0.0.1:8002") == "app"
    env = {
        "UO_API_URL": "http://environment-api:8002",
        "UO_METRICS_PORT": "9464",
        "UO_IMAGE": "unifyops/environment-app@sha256:" + "b" * 64,
    }
    settings = Settings.from_env(env)
    assert (settings.service_name, settings.metrics_port) == ("environment-app", 9464)
    assert settings.image == env["UO_IMAGE"]
