"""Settings of user-api (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache

from unifyops_core.stack import GatewayTierSettings


class Settings(GatewayTierSettings):
    service_name: str = "user-api"
    service_url: str = "http://user-service:8001"


@cache
def get_settings() -> Settings:
    return Settings()
