"""Settings of auth-service (``UO_*`` environment variables)."""

from __future__ import annotations

from functools import cache

from pydantic import SecretStr

from unifyops_core.stack import ServiceTierSettings

# Development only (ServiceSettings refuses an empty key elsewhere): a fixed key so a local run
# keeps its signing keys readable across restarts.
_DEVELOPMENT_KEY_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMtISE="


class Settings(ServiceTierSettings):
    service_name: str = "auth-service"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    service_token_ttl_seconds: int = 300
    # Fernet key (urlsafe base64 of 32 bytes) encrypting the signing keys at rest.
    key_encryption_key: SecretStr = SecretStr("")
    login_failures_per_email: int = 5
    login_failures_per_ip: int = 20
    login_window_seconds: int = 900

    def encryption_key(self) -> bytes:
        value = self.key_encryption_key.get_secret_value()
        return (value or _DEVELOPMENT_KEY_ENCRYPTION_KEY).encode()


@cache
def get_settings() -> Settings:
    return Settings()
