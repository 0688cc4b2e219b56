"""The circuit breaker and the retry budget: states on a clock, then a client against a real
server on loopback that counts what reaches it."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from unifyops_core.breaker import CircuitBreaker, RetryBudget
from unifyops_core.client import ServiceClient
from unifyops_core.exceptions import DependencyUnavailableError, DownstreamError
from unifyops_core.handlers import register_exception_handlers
from unifyops_core.testing_db import serve_on_loopback


def state(breaker: CircuitBreaker) -> str:
    # A function rather than the property inline, so mypy does not narrow it between calls.
    return breaker.state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_then_half_opens_for_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=5, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) == "closed"
    breaker.record_failure()
    assert (state(breaker), breaker.allow()) == ("open", False)
    clock.now += 5
    assert state(breaker) == "half_open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # and nothing else while it is out
    breaker.record_failure()
    assert (state(breaker), breaker.allow()) == ("open", False)
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert (state(breaker), breaker.allow()) == ("closed", True)


def test_opens_on_a_failure_ratio_without_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=100, failure_ratio=0.5, window=10)
    for index in range(9):
        (breaker.record_failure if index % 2 else breaker.record_success)()
    assert state(breaker) == "closed"  # 4 of 9: the window is not full yet
    breaker.record_failure()
    assert state(breaker) == "open"  # 5 of 10


def test_retry_budget_is_a_fraction_of_recent_requests() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, min_retries=2, window=10, clock=clock)
    for _ in range(20):
        budget.record_request()
    granted = sum(budget.try_retry() for _ in range(10))
    assert granted == 4
    clock.now += 11  # the window moved on: requests and retries forgotten, the floor remains
    assert sum(budget.try_retry() for _ in range(10)) == 2


class Target:
    def __init__(self) -> None:
        self.hits = 0
        self.healthy = False
        app = FastAPI()
        register_exception_handlers(app)

        @app.get("/thing")
        async def thing() -> dict[str, bool]:
            self.hits += 1
            if not self.healthy:
                raise DependencyUnavailableError("database down")
            return {"ok": True}

        self.app = app


@pytest.fixture
def target() -> Iterator[tuple[Target, str]]:
    target = Target()
    with serve_on_loopback(target.app) as url:
        yield target, url


async def test_an_open_breaker_fails_fast_without_calling_and_a_probe_closes_it(
    target: tuple[Target, str],
) -> None:
    server, url = target
    clock = Clock()
    async with ServiceClient(url, service="demo-service", max_retries=0) as client:
        client.breaker = CircuitBreaker(failure_threshold=3, cooldown=2, clock=clock)
        for _ in range(10):
            with pytest.raises(DependencyUnavailableError):
                await client.get("/thing")
        assert server.hits == 3  # the other 7 never left this process
        server.healthy = True
        with pytest.raises(DependencyUnavailableError):
            await client.get("/thing")  # still cooling down
        clock.now += 2
        assert (await client.get("/thing")).json() == {"ok": True}
        assert state(client.breaker) == "closed"
        assert server.hits == 4


async def test_retries_stay_within_the_budget_when_everything_fails(
    target: tuple[Target, str],
) -> None:
    server, url = target
    async with ServiceClient(url, service="demo-service", max_retries=2, backoff=0.001) as client:
        client.breaker = CircuitBreaker(failure_threshold=10_000, failure_ratio=2)
        client.retry_budget = RetryBudget(ratio=0.2, min_retries=3)
        for _ in range(50):
            with pytest.raises(DependencyUnavailableError):
                await client.get("/thing")
    # Without a budget: 150 calls (3 attempts each). With it: 50 plus at most 20 %.
    assert 50 < server.hits <= 60


async def test_an_unreachable_target_opens_the_breaker() -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    async with ServiceClient(dead, service="demo-service", max_retries=0) as client:
        client.breaker = CircuitBreaker(failure_threshold=2, cooldown=60)
        for _ in range(2):
            with pytest.raises(DependencyUnavailableError):
                await client.get("/thing")
        assert state(client.breaker) == "open"
        with pytest.raises(DependencyUnavailableError) as failed:
            await client.get("/thing")
        assert "circuit" in failed.value.message
    assert not isinstance(failed.value, DownstreamError)
