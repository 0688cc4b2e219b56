"""Settings of environment-api (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache

from unifyops_core.stack import GatewayTierSettings


class Settings(GatewayTierSettings):
    service_name: str = "environment-api"
    service_url: str = "http://environment-service:8001"


@cache
def get_settings() -> Settings:
    return Settings()
