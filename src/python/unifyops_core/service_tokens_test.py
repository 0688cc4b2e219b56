import asyncio

import jwt
import pytest

from unifyops_core.exceptions import DependencyUnavailableError, ServerError
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.token_endpoint_testutil import TokenEndpoint


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def provider(
    endpoint: TokenEndpoint, clock: FakeClock | None = None, secret: str = "s3cret-for-tests"
) -> ServiceTokenProvider:
    return ServiceTokenProvider(
        token_url="http://auth/oauth/token",
        client_id="user-api",
        client_secret=secret,
        http=endpoint.http,
        refresh_margin=10,
        clock=clock or FakeClock(),
    )


async def test_token_is_audience_bound_and_renewed_at_80_percent_of_its_lifetime() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    tokens = provider(endpoint, clock)
    first = await tokens.token_for("user-service")
    claims = jwt.decode(first, options={"verify_signature": False})
    assert (claims["aud"], claims["sub"], claims["token_use"]) == (
        "user-service",
        "user-api",
        "service",
    )
    clock.now = 239  # 300 s lifetime: renewed from 240 s on
    assert await tokens.token_for("user-service") == first
    clock.now = 241
    assert await tokens.token_for("user-service") != first
    assert endpoint.requests == 2


async def test_each_audience_has_its_own_token() -> None:
    endpoint = TokenEndpoint()
    tokens = provider(endpoint)
    assert await tokens.token_for("a") != await tokens.token_for("b")
    assert endpoint.requests == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    endpoint = TokenEndpoint()
    endpoint.delay = 0.05
    tokens = provider(endpoint)
    results = await asyncio.gather(*(tokens.token_for("user-service") for _ in range(50)))
    assert len(set(results)) == 1
    assert endpoint.requests == 1


async def test_invalidate_drops_only_the_rejected_token() -> None:
    endpoint = TokenEndpoint()
    tokens = provider(endpoint)
    first = await tokens.token_for("svc")
    tokens.invalidate("svc", "some-other-token")
    assert await tokens.token_for("svc") == first
    tokens.invalidate("svc", first)
    assert await tokens.token_for("svc") != first


async def test_bad_credentials_are_a_server_error_not_the_users_fault() -> None:
    with pytest.raises(ServerError) as caught:
        await provider(TokenEndpoint(), secret="wrong").token_for("svc")
    assert caught.value.status_code == 500


async def test_unreachable_token_service_is_dependency_unavailable() -> None:
    import httpx

    tokens = ServiceTokenProvider(
        token_url="http://127.0.0.1:9/oauth/token",
        client_id="x",
        client_secret="y",
        http=httpx.AsyncClient(timeout=1),
    )
    with pytest.raises(DependencyUnavailableError):
        await tokens.token_for("svc")


async def test_an_auth_outage_during_renewal_keeps_the_old_token_until_it_expires() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    tokens = provider(endpoint, clock)
    first = await tokens.token_for("svc")
    endpoint.down = True
    clock.now = 250  # due for renewal; auth answers 503
    assert await tokens.token_for("svc") == first
    assert endpoint.requests == 2
    for _ in range(20):  # no token request per call: the next attempt waits a few seconds
        assert await tokens.token_for("svc") == first
    assert endpoint.requests == 2
    clock.now = 256
    assert await tokens.token_for("svc") == first
    assert endpoint.requests == 3
    clock.now = 291  # less than refresh_margin left: the old token cannot be sent any more
    with pytest.raises(DependencyUnavailableError):
        await tokens.token_for("svc")
    endpoint.down = False
    assert await tokens.token_for("svc") != first


async def test_renewal_after_auth_returns_replaces_the_old_token() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    tokens = provider(endpoint, clock)
    first = await tokens.token_for("svc")
    endpoint.down = True
    clock.now = 245
    assert await tokens.token_for("svc") == first
    endpoint.down = False
    clock.now = 251
    renewed = await tokens.token_for("svc")
    assert renewed != first
    clock.now = 290  # the renewed token's own renewal is due only at 251 + 240
    assert await tokens.token_for("svc") == renewed
