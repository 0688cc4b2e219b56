"""The naming contract, written once: stacks, tiers, ports, packages, images, namespaces, files.

Everything that names a stack's parts (the chart's tests, the release tooling, the services' own
port defaults) derives the names from here; shared/DESIGN.md's table is the human view of it. The
stacks and tiers themselves come from the registry (unifyops_core.stack_registry), which the BUILD
macros read too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from unifyops_core.stack_registry import UNIFYOPS_STACKS, UNIFYOPS_TIERS

# stack -> domain, in the registry's order (auth first)
STACKS: Final[dict[str, str]] = {stack: domain for domain, stack in UNIFYOPS_STACKS}
# tier -> container port, for every tier including the database
TIER_PORTS: Final[dict[str, int]] = {tier: port for tier, port, _ in UNIFYOPS_TIERS}
# The tiers built as one image per stack (app, api, service): what a release, an infra file's
# `tiers` and a promotion are made of. The database image is shared by every stack.
IMAGE_TIERS: Final = tuple(tier for tier, _, build in UNIFYOPS_TIERS if build != "shared")
DATABASE_TIER: Final = "database"
DATABASE_PORT: Final = TIER_PORTS[DATABASE_TIER]
ENVIRONMENTS: Final = ("dev", "staging", "prod")
HEALTH_LIVE_PATH: Final = "/health/live"
HEALTH_READY_PATH: Final = "/health/ready"
# The Python tiers; the app tier is a web bundle, not a Python package.
PYTHON_TIERS: Final = tuple(tier for tier, _, build in UNIFYOPS_TIERS if build == "python")


@dataclass(frozen=True)
class Component:
    """One image tier of one stack, with every name the contract gives it."""

    stack: str
    tier: str

    def __post_init__(self) -> None:
        if self.stack not in STACKS:
            raise ValueError(f"unknown stack {self.stack!r}; known: {', '.join(STACKS)}")
        if self.tier not in IMAGE_TIERS:
            raise ValueError(f"unknown tier {self.tier!r}; known: {', '.join(IMAGE_TIERS)}")

    @property
    def domain(self) -> str:
        return STACKS[self.stack]

    @property
    def name(self) -> str:
        """``auth-service``: workload, Service and audience name."""
        return f"{self.stack}-{self.tier}"

    @property
    def port(self) -> int:
        return TIER_PORTS[self.tier]

    @property
    def image_repository(self) -> str:
        return f"unifyops/{self.name}"

    @property
    def python_package(self) -> str:
        return f"unifyops.{self.domain}.{self.stack}.{self.stack}_{self.tier}"

    @property
    def pex_target(self) -> str:
        return "src/python/" + self.python_package.replace(".", "/") + ":bin"


def components() -> list[Component]:
    return [Component(stack, tier) for stack in STACKS for tier in IMAGE_TIERS]


def namespace(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}; known: {', '.join(ENVIRONMENTS)}")
    return f"uo-{environment}"


def infra_file(environment: str, stack: str) -> str:
    namespace(environment)  # validates
    Component(stack, "api")  # validates
    return f"infra/environments/{environment}/{stack}.yaml"


__all__ = [
    "DATABASE_PORT",
    "DATABASE_TIER",
    "ENVIRONMENTS",
    "HEALTH_LIVE_PATH",
    "HEALTH_READY_PATH",
    "IMAGE_TIERS",
    "PYTHON_TIERS",
    "STACKS",
    "TIER_PORTS",
    "Component",
    "components",
    "infra_file",
    "namespace",
]
