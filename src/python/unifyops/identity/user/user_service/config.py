"""Settings of user-service (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache

from unifyops_core.stack import ServiceTierSettings


class Settings(ServiceTierSettings):
    service_name: str = "user-service"


@cache
def get_settings() -> Settings:
    return Settings()
