"""Settings of environment-service (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from unifyops_core.stack import ServiceTierSettings


class Settings(ServiceTierSettings):
    service_name: str = "environment-service"
    # infra/environments of a checkout of the GitOps repository (kept current by the deployment).
    infra_path: Path = Path("/srv/unifyops/infra/environments")


@cache
def get_settings() -> Settings:
    return Settings()
