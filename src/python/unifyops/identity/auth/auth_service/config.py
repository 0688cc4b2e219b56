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
    # Sign-in limits (auth_service.limits). Failures before backoff starts: per account from
    # devices that never signed in to it, per client address across accounts (credential
    # stuffing; NATs share addresses, hence more), per known device. Then each further attempt
    # waits base * 2^k seconds, at most the cap; a count is forgotten after the memory.
    login_free_failures_per_account: int = 5
    login_free_failures_per_address: int = 20
    login_free_failures_per_device: int = 5
    login_backoff_base_seconds: int = 1
    login_backoff_cap_seconds: int = 900
    login_failure_memory_seconds: int = 12 * 3600
    # A device token proves a past sign-in for this long after its last use (the app's cookie
    # lives as long).
    device_token_ttl_seconds: int = 365 * 24 * 3600
    # Registrations (any outcome) per client address and window: the e2e and integration suites
    # register a few dozen accounts per run from one address.
    registrations_per_address: int = 30
    registration_window_seconds: int = 600
    # Client-credential failures before backoff, per address and per client id; addresses a
    # client obtained a token from within the memory are exempt from the per-client count, so
    # strangers cannot keep a gateway from its tokens.
    token_free_failures: int = 10
    # A rotated refresh token presented again this soon still works (two apps refreshing at
    # once); later it means a copy exists, and the whole session ends.
    refresh_reuse_grace_seconds: int = 10

    def encryption_key(self) -> bytes:
        value = self.key_encryption_key.get_secret_value()
        return (value or _DEVELOPMENT_KEY_ENCRYPTION_KEY).encode()


@cache
def get_settings() -> Settings:
    return Settings()
