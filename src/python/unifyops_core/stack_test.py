"""Where a service tier gets the keys it checks service tokens with."""

from __future__ import annotations

from unifyops_core.keys import JwksKeys, StaticKeys
from unifyops_core.stack import ServiceTierSettings


def test_a_jwks_url_means_fetched_and_cached_keys() -> None:
    settings = ServiceTierSettings(service_name="user-service", jwks_url="http://auth-api:8002/.well-known/jwks.json")
    assert isinstance(settings.trusted_keys(), JwksKeys)


def test_without_a_url_the_configured_keys_are_trusted() -> None:
    assert isinstance(ServiceTierSettings(service_name="user-service").trusted_keys(), StaticKeys)
