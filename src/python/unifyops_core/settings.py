"""Settings base class for services: pydantic-settings, from ``UO_*`` environment variables.

Outside ``development`` it refuses secrets that are empty or well-known placeholders, so a service
cannot start in staging or prod with the value from an example file.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# `test` and `scratch`: the environments the test suite runs with `uo up`'s executor (scratch: a
# generated stack beside `test`).
Environment = Literal["development", "test", "scratch", "local", "dev", "staging", "prod"]
# Where API documentation (/docs, /redoc, /openapi.json) is served: never where real users are.
DOCUMENTED_ENVIRONMENTS = frozenset({"development", "test", "local", "dev"})

# Values that come from examples and defaults, never from a real secret store.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "secret",
        "password",
        "default",
        "dev",
        "development",
        "test",
        "example",
    }
)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UO_", extra="ignore", frozen=True)

    service_name: str
    environment: Environment = "development"
    log_level: str = "INFO"
    # Request bodies above this are refused with 413 before they are read (UO_MAX_BODY_BYTES).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Time a request may take end to end when it arrives without an X-Request-Deadline
    # (UO_REQUEST_BUDGET_MS), and per path prefix (UO_ROUTE_BUDGETS_MS, JSON); see deadline.py.
    request_budget_ms: int = Field(default=10_000, ge=1)
    route_budgets_ms: dict[str, int] = Field(default_factory=dict)
    # Requests served at once before more are refused with 503 (UO_MAX_IN_FLIGHT); shedding.py.
    max_in_flight: int = Field(default=256, ge=1)
    # Port of the Prometheus metrics, apart from the public one (UO_METRICS_PORT); 0 serves none.
    # The chart sets it (9464); off by default, so apps built in tests and tools bind nothing.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # The image reference this process runs (UO_IMAGE, set by the chart): build info reports it,
    # so the environment dashboard can tell what runs from what infra/ wants.
    image: str = ""
    # Traces (tracing.py): UO_TRACES off | log (spans as JSON log lines, where no collector runs)
    # | otlp (to UO_OTLP_ENDPOINT, e.g. http://otel-collector.monitoring:4318); the chart sets
    # them from values. UO_TRACE_SAMPLE_RATIO: the share of new traces recorded.
    traces: Literal["off", "log", "otlp"] = "off"
    otlp_endpoint: str = ""
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)

    @property
    def serves_api_docs(self) -> bool:
        return self.environment in DOCUMENTED_ENVIRONMENTS

    @model_validator(mode="after")
    def _otlp_needs_an_endpoint(self) -> Self:
        if self.traces == "otlp" and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ValueError(
                "UO_TRACES=otlp needs UO_OTLP_ENDPOINT, the collector's OTLP/HTTP base URL "
                f"(http://… or https://…), not {self.otlp_endpoint!r}"
            )
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment == "development":
            return self
        weak = sorted(
            name
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr)
            and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
        )
        if weak:
            raise ValueError(
                f"secrets {', '.join(weak)} are empty or placeholders; "
                f"set real values for environment '{self.environment}'"
            )
        return self


__all__ = ["DOCUMENTED_ENVIRONMENTS", "PLACEHOLDER_SECRETS", "Environment", "ServiceSettings"]
