"""Keeping a dead dependency from being hammered: a circuit breaker and a retry budget.

``CircuitBreaker`` (one per target) is *closed* while calls succeed; it *opens* after
``failure_threshold`` consecutive failures, or when at least ``failure_ratio`` of the last
``window`` calls failed. While open, calls fail fast without reaching the target. After
``cooldown`` seconds it is *half-open*: exactly one probe call goes through; its success closes the
breaker, its failure opens it for another cool-down.

``RetryBudget`` caps retries at ``ratio`` of the requests seen over the last ``window`` seconds
(with a small floor so a quiet client can still retry at all): when everything fails, retries add
at most that fraction of load instead of multiplying it by the attempt count.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        failure_ratio: float = 0.5,
        window: int = 20,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.failure_ratio = failure_ratio
        self.cooldown = cooldown
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=window)  # True: the call failed
        self._consecutive_failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.cooldown:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state only the one probe may."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._outcomes.append(False)
        self._consecutive_failures = 0
        if self._opened_at is not None:
            # The probe answered: the target is back.
            self._opened_at = None
            self._probing = False
            self._outcomes.clear()

    def record_failure(self) -> None:
        self._outcomes.append(True)
        self._consecutive_failures += 1
        if self._opened_at is not None:
            # A failed probe (or a call that started before the breaker opened): wait again.
            self._opened_at = self._clock()
            self._probing = False
            return
        full = len(self._outcomes) == self._outcomes.maxlen
        ratio = sum(self._outcomes) / len(self._outcomes)
        if self._consecutive_failures >= self.failure_threshold or (
            full and ratio >= self.failure_ratio
        ):
            self._opened_at = self._clock()


class RetryBudget:
    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_retries: int = 3,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.min_retries = min_retries
        self.window = window
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def record_request(self) -> None:
        self._requests.append(self._clock())

    def try_retry(self) -> bool:
        """Spend one retry if the budget allows it; False means: give up now."""
        now = self._clock()
        for stamps in (self._requests, self._retries):
            while stamps and stamps[0] <= now - self.window:
                stamps.popleft()
        if len(self._retries) >= max(self.min_retries, self.ratio * len(self._requests)):
            return False
        self._retries.append(now)
        return True


__all__ = ["CircuitBreaker", "RetryBudget", "State"]
