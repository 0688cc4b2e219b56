"""The readiness checks of one app (``HealthRegistry``), apart from the FastAPI router that
serves them (``health``): metrics read the last verdict, and the app server has no FastAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from loguru import logger

HealthCheck = Callable[[], Awaitable[object]]


@dataclass
class HealthRegistry:
    """The readiness checks of one app, by name."""

    default_timeout: float = 2.0
    # The verdict of the last readiness request (None before the first): metrics export it.
    last_ready: bool | None = None
    _checks: dict[str, tuple[HealthCheck, float]] = field(default_factory=dict)

    def add(self, name: str, check: HealthCheck, *, timeout: float | None = None) -> None:
        self._checks[name] = (check, timeout or self.default_timeout)

    async def run(self) -> dict[str, str]:
        """Each check's outcome: ``ok``, ``timeout`` or ``failed`` (the cause goes to the log)."""
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run_one(name) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _run_one(self, name: str) -> str:
        check, timeout = self._checks[name]
        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            logger.bind(check=name).warning("readiness check timed out")
            return "timeout"
        except Exception as exc:
            logger.bind(check=name, failure=type(exc).__name__).warning("readiness check failed")
            return "failed"
        return "ok"


__all__ = ["HealthCheck", "HealthRegistry"]
