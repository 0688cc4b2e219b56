"""With UO_TRACES=log the app server starts a trace for each /api call and hands it on: the call
to the gateway carries a W3C traceparent of the same trace, its access line names the trace, and
its span is a JSON log line. (Own file: OpenTelemetry allows one tracer provider per process.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from unifyops_core import tracing
from uo_appserver.conftest import FakeGateway, app_server, running

# version 00, trace id, parent (the app server's client span), flags with "sampled" (0x01) set
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_an_api_call_is_traced_and_its_traceparent_reaches_the_gateway(
    bundle: Path, gateway: tuple[FakeGateway, str], capfd: pytest.CaptureFixture[str]
) -> None:
    fake, url = gateway
    with running(app_server(bundle, url, traces="log", service_name="user-app")) as app:
        assert httpx.get(f"{app}/api/v1/profile").status_code == 200
        assert httpx.get(f"{app}/index.html").status_code == 200  # the bundle: not traced
        provider = tracing.installed()
        assert provider is not None
        provider.force_flush()
    (sent,) = [v for k, v in fake.seen[-1]["headers"] if k == "traceparent"]
    match = TRACEPARENT.match(sent)
    assert match, sent
    trace_id, client_span, flags = match.groups()
    assert int(flags, 16) & 1
    lines = json_lines(capfd.readouterr().out)
    (access,) = [line for line in lines if line.get("event") == "access"]
    assert access["trace_id"] == trace_id
    spans = {
        line["extra"]["span"]["span_id"]: line["extra"]["span"]
        for line in lines
        if "span" in line.get("extra", {})
    }
    assert set(spans) >= {client_span}
    client = spans[client_span]
    assert client["kind"] == "client"
    server = spans[client["parent_span_id"]]
    assert server["kind"] == "server"
    assert server["parent_span_id"] is None
    assert {span["trace_id"] for span in spans.values()} == {trace_id}  # nothing for the bundle


def test_a_bad_tracing_setting_is_refused_with_its_name(bundle: Path) -> None:
    from uo_appserver.settings import Settings

    with pytest.raises(ValueError, match="UO_TRACES"):
        Settings(bundle=bundle, api_url="http://user-api:8002", traces="zipkin")
    with pytest.raises(ValueError, match="UO_OTLP_ENDPOINT"):
        Settings(bundle=bundle, api_url="http://user-api:8002", traces="otlp")
    with pytest.raises(ValueError, match="UO_TRACE_SAMPLE_RATIO"):
        Settings(bundle=bundle, api_url="http://user-api:8002", trace_sample_ratio=1.5)
