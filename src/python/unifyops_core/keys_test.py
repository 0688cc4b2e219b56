from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from unifyops_core.exceptions import DependencyUnavailableError
from unifyops_core.keys import JwksKeys
from unifyops_core.testing import SigningKey, jwks


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A real JWKS endpoint (an ASGI app) whose published keys the test can rotate."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.available = True
        self.requests = 0
        app = FastAPI()

        @app.get("/.well-known/jwks.json")
        async def published() -> dict[str, Any]:
            self.requests += 1
            if not self.available:
                raise RuntimeError("issuer down")
            return jwks(*self.keys)

        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://issuer",
        )

    def source(self, clock: FakeClock, **kwargs: Any) -> JwksKeys:
        return JwksKeys(
            "http://issuer/.well-known/jwks.json", http=self.http, clock=clock, **kwargs
        )


async def test_keys_are_fetched_once_and_cached() -> None:
    key = SigningKey()
    issuer, clock = Issuer(key), FakeClock()
    source = issuer.source(clock)
    for _ in range(5):
        assert await source.key_for(key.kid) is not None
    assert issuer.requests == 1


async def test_unknown_kid_refreshes_once_to_pick_up_a_rotated_key() -> None:
    old, new = SigningKey(), SigningKey()
    issuer, clock = Issuer(old), FakeClock()
    source = issuer.source(clock, min_refresh_interval=10)
    await source.key_for(old.kid)
    issuer.keys.append(new)  # rotation: the issuer publishes the next key
    clock.now += 11
    assert await source.key_for(new.kid) is not None
    assert await source.key_for(old.kid) is not None, "the previous key stays valid"
    assert issuer.requests == 2


async def test_refreshes_for_unknown_kids_are_rate_limited() -> None:
    issuer, clock = Issuer(SigningKey()), FakeClock()
    source = issuer.source(clock, min_refresh_interval=10)
    for attempt in range(20):
        assert await source.key_for(f"made-up-{attempt}") is None
    assert issuer.requests == 1
    clock.now += 11
    await source.key_for("another-made-up")
    assert issuer.requests == 2


async def test_cache_expires_after_ttl() -> None:
    key = SigningKey()
    issuer, clock = Issuer(key), FakeClock()
    source = issuer.source(clock, ttl=60)
    await source.key_for(key.kid)
    clock.now += 61
    await source.key_for(key.kid)
    assert issuer.requests == 2


async def test_issuer_outage_keeps_known_keys_and_fails_clearly_without_any() -> None:
    key = SigningKey()
    issuer, clock = Issuer(key), FakeClock()
    source = issuer.source(clock, ttl=60)
    await source.key_for(key.kid)
    issuer.available = False
    clock.now += 61
    assert await source.key_for(key.kid) is not None

    cold = issuer.source(FakeClock())
    with pytest.raises(DependencyUnavailableError):
        await cold.key_for(key.kid)


async def test_cached_keys_outlive_an_issuer_outage_for_max_staleness_only() -> None:
    key = SigningKey()
    issuer, clock = Issuer(key), FakeClock()
    source = issuer.source(clock, ttl=300, max_staleness=3600)
    await source.key_for(key.kid)
    issuer.available = False
    clock.now += 3599  # an hour-long auth outage: tokens still verify
    assert await source.key_for(key.kid) is not None
    clock.now += 2
    with pytest.raises(DependencyUnavailableError):
        await source.key_for(key.kid)
    with pytest.raises(DependencyUnavailableError):
        await source.key_for(key.kid)  # no stale key comes back between refresh attempts
    issuer.available = True
    clock.now += 11  # the next refresh attempt after min_refresh_interval succeeds
    assert await source.key_for(key.kid) is not None
