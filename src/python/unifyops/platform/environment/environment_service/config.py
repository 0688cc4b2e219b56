"""Settings of environment-service (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from unifyops_core.stack import ServiceTierSettings


class Settings(ServiceTierSettings):
    service_name: str = "environment-service"
    # infra/environments of a checkout of the GitOps repository (kept current by the deployment).
    infra_path: Path = Path("/srv/unifyops/infra/environments")
    # Where the desired state comes from (desired.py): `files` (infra_path, a mounted checkout,
    # as `uo up` does) or `records` (the deployments the release loop recorded: a cluster, where
    # no checkout is mounted; the chart sets it then).
    desired_state: Literal["files", "records"] = "files"
    # Prometheus' HTTP API (UO_PROMETHEUS_URL, e.g. http://prometheus.monitoring:9090): the
    # running side of the dashboard (live.py). Empty: the dashboard shows desired state only.
    prometheus_url: str = ""
    # The log reader (UO_LOGS_URL, e.g. http://logs.monitoring:3100; uo_logs): the dashboard's
    # error-id search (traces.py). Empty: the search answers that no reader is configured.
    logs_url: str = ""


@cache
def get_settings() -> Settings:
    return Settings()
