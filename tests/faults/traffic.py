"""Traffic on every stack through the edge while a fault is injected, and what it saw.

One worker per stack, each on a read that crosses every tier of its stack (gateway → service →
PostgreSQL): auth's JWKS, user's own profile, environment's deployment history. Each request is
a sample: when it started, how long it took, its status, and whether a failure had the uniform
error shape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from e2e.environment import PASSWORD, UNIFORM_KEYS, Running, bearer
from unifyops_core.naming import STACKS

STACK_NAMES = tuple(STACKS)


@dataclass(frozen=True)
class Sample:
    stack: str
    started: float  # time.monotonic()
    seconds: float
    status: str  # "200", "503", or the client's exception ("ReadTimeout")
    uniform: bool  # a failure answered with the uniform error shape and X-Error-ID

    @property
    def ok(self) -> bool:
        return self.status == "200"


def sign_in(running: Running, email: str, password: str = PASSWORD, register: bool = True) -> str:
    """An access token (the account is registered first unless it exists)."""
    auth = running.url("auth-api", "/v1/auth")
    credentials = {"email": email, "password": password}
    if register:
        answer = httpx.post(f"{auth}/register", json=credentials, timeout=30)
        assert answer.status_code in (201, 409), answer.text
    login = httpx.post(f"{auth}/login", json=credentials, timeout=30)
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def _uniform(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and set(body) >= UNIFORM_KEYS
        and response.headers.get("X-Error-ID") == body.get("error_id")
    )


@dataclass
class Traffic:
    running: Running
    member_token: str
    operator_token: str
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def targets(self) -> dict[str, tuple[str, dict[str, str]]]:
        r = self.running
        # Each stack's own read: written per stack, so checked against the registry.
        targets = {
            "auth": (r.url("auth-api", "/.well-known/jwks.json"), {}),
            "user": (r.url("user-api", "/v1/profile"), bearer(self.member_token)),
            "environment": (
                r.url("environment-api", "/v1/deployments?limit=5"),
                bearer(self.operator_token),
            ),
        }
        if list(targets) != list(STACKS):
            raise AssertionError(
                "tests/faults/traffic.py: give every stack of "
                "src/python/unifyops_core/stack_registry.py a read in Traffic.targets"
            )
        return targets

    def _loop(self, stack: str, url: str, headers: dict[str, str]) -> None:
        # A generous client timeout: the platform must bound a failure, not the client.
        with httpx.Client(timeout=60, headers=headers) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = http.get(url)
                    status, uniform = str(response.status_code), _uniform(response)
                except httpx.HTTPError as exc:
                    status, uniform = type(exc).__name__, False
                self.samples.append(
                    Sample(stack, started, time.monotonic() - started, status, uniform)
                )
                self.stop.wait(0.05)

    def of(self, stack: str, since: float = 0.0) -> list[Sample]:
        """The stack's requests still in flight at ``since`` or started later: one sent just
        before a fault and caught by it counts (its answer says how the fault was handled)."""
        return [
            s for s in list(self.samples) if s.stack == stack and s.started + s.seconds >= since
        ]

    def failures(self, stack: str, since: float = 0.0) -> list[Sample]:
        return [s for s in self.of(stack, since) if not s.ok]

    def healthy_since(self, stack: str, after: float) -> float | None:
        """When the stack's requests started succeeding for good after ``after``."""
        samples = self.of(stack, after)
        failed = [s.started for s in samples if not s.ok]
        last_failure = max(failed, default=None)
        later = [
            s.started
            for s in samples
            if s.ok and (last_failure is None or s.started > last_failure)
        ]
        return min(later) if later else None

    def wait_healthy(self, stack: str, after: float, seconds: float, streak: int = 10) -> float:
        """Seconds from ``after`` until the stack answered ``streak`` requests in a row."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            recent = self.of(stack, after)[-streak:]
            if len(recent) == streak and all(s.ok for s in recent):
                healthy = self.healthy_since(stack, after)
                assert healthy is not None
                return healthy - after
            time.sleep(0.2)
        tail = [s.status for s in self.of(stack, after)[-streak:]]
        raise AssertionError(f"{stack} not healthy {seconds:.0f}s after the fault: {tail}")


@contextmanager
def traffic(running: Running, member_token: str, operator_token: str) -> Iterator[Traffic]:
    load = Traffic(running, member_token, operator_token)
    threads = [
        threading.Thread(target=load._loop, args=(stack, url, headers), daemon=True)
        for stack, (url, headers) in load.targets().items()
    ]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=90)
