"""Health endpoints: ``GET /health/live`` (the process answers) and ``GET /health/ready`` (its
dependencies answer too). Readiness runs the registered checks concurrently, each with a timeout,
and answers 503 in the uniform shape naming the failed checks.
"""

from __future__ import annotations

from fastapi import APIRouter

from unifyops_core.exceptions import DependencyUnavailableError
from unifyops_core.health_checks import HealthCheck, HealthRegistry


def health_router(registry: HealthRegistry) -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="The process and its dependencies are ready")
    async def ready() -> dict[str, object]:
        checks = await registry.run()
        failed = {name: outcome for name, outcome in checks.items() if outcome != "ok"}
        registry.last_ready = not failed
        if failed:
            raise DependencyUnavailableError("Not ready", details={"checks": checks})
        return {"status": "ready", "checks": checks}

    return router


__all__ = ["HealthCheck", "HealthRegistry", "health_router"]
