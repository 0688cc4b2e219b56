"""How an app server is configured: environment variables set by the image and the chart."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# The chart's default tiers.app.gracefulShutdownSeconds: in-flight requests get this long after
# SIGTERM (terminationGracePeriodSeconds leaves room for it).
GRACEFUL_SECONDS = 20


def app_name(api_url: str) -> str:
    """``user-app`` for the gateway ``http://user-api:8002`` (the naming contract)."""
    host = urlsplit(api_url).hostname or ""
    return host.removesuffix("-api") + "-app" if host.endswith("-api") else "app"


@dataclass(frozen=True)
class Settings:
    bundle: Path
    api_url: str
    port: int = 3000
    secure_cookie: bool = False
    graceful_seconds: int = GRACEFUL_SECONDS
    # How long the gateway may take to answer one call (connecting gets at most 5 s of it).
    upstream_timeout_seconds: float = 30.0
    # Prometheus metrics on their own port (UO_METRICS_PORT, set by the chart); 0 serves none.
    metrics_port: int = 0
    # For the build-info series: which app this is and where it runs (the chart sets both).
    service_name: str = "app"
    environment: str = "development"
    # The image reference it runs (UO_IMAGE, set by the chart), reported in build info.
    image: str = ""
    # OpenTelemetry, as every tier (unifyops_core.tracing): UO_TRACES off | log | otlp,
    # UO_OTLP_ENDPOINT, UO_TRACE_SAMPLE_RATIO. The relayed call carries the traceparent.
    traces: str = "off"
    otlp_endpoint: str = ""
    trace_sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.api_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"UO_API_URL must be http://host:port, not {self.api_url!r}")
        if self.traces not in ("off", "log", "otlp"):
            raise ValueError(f"UO_TRACES must be off, log or otlp, not {self.traces!r}")
        if self.traces == "otlp" and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ValueError("UO_TRACES=otlp needs UO_OTLP_ENDPOINT (http://… or https://…)")
        if not 0.0 <= self.trace_sample_ratio <= 1.0:
            raise ValueError("UO_TRACE_SAMPLE_RATIO must lie between 0 and 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            bundle=Path(environ.get("UO_BUNDLE_DIR", "/app/bundle")),
            api_url=environ.get("UO_API_URL", ""),
            port=int(environ.get("UO_PORT", "3000")),
            secure_cookie=environ.get("UO_SECURE_COOKIE", "false").lower() == "true",
            metrics_port=int(environ.get("UO_METRICS_PORT", "0")),
            service_name=environ.get("UO_SERVICE_NAME") or app_name(environ.get("UO_API_URL", "")),
            environment=environ.get("UO_ENVIRONMENT", "development"),
            image=environ.get("UO_IMAGE", ""),
            traces=environ.get("UO_TRACES", "off"),
            otlp_endpoint=environ.get("UO_OTLP_ENDPOINT", ""),
            trace_sample_ratio=float(environ.get("UO_TRACE_SAMPLE_RATIO", "1")),
        )


__all__ = ["GRACEFUL_SECONDS", "Settings", "app_name"]
