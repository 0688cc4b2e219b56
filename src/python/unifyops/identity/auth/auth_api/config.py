"""Settings of auth-api (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache

from unifyops_core.stack import GatewayTierSettings


class Settings(GatewayTierSettings):
    service_name: str = "auth-api"
    service_url: str = "http://auth-service:8001"
    # auth-api gets its own service tokens straight from its service.
    token_url: str = "http://auth-service:8001/oauth/token"
    jwks_cache_seconds: int = 60


@cache
def get_settings() -> Settings:
    return Settings()
