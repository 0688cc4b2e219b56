"""Release units: what a docker_image target is in the release loop, read from the target itself.

Every image the repository builds is one unit with a (stack, tier):
- a stack's tiers (app, api, service): ``<stack>/<tier>``, from the naming contract;
- the database image every stack runs: ``shared/database``;
- the front door of `uo up`: ``shared/edge``; its Prometheus and log reader: ``shared/prometheus``,
  ``shared/logs``.

The pair comes from the target's ``repository`` field: the contract maps each repository to
exactly one pair. A target that also carries ``io.unifyops.stack``/``io.unifyops.tier`` in its
``image_labels`` has them checked against it; the repository's own targets put their labels in
the Dockerfile instead (one LABEL step, see ``unifyops_label_instructions`` in
build-support/pants/macros.py), where the built image carries them. Nothing is parsed from an
address.

Where `uo bump` records a unit (``record``):
- ``tier``: ``tiers.<tier>.image`` (+ ``coreVersion``) in ``infra/environments/<env>/<stack>.yaml``;
- ``database``: ``database.internal.image`` in every stack file of the environment that runs an
  internal database (stacks on an external database are left alone);
- ``edge`` (the edge, Prometheus, the log reader): nowhere: only `uo up` runs them, from the
  working tree; they are built and published so the images exist, and `uo bump` says it skipped
  them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from unifyops_core.naming import STACKS, components
from uo.errors import ImageKindError

SHARED = "shared"  # the stack name of images no single stack owns
STACK_LABEL, TIER_LABEL = "io.unifyops.stack", "io.unifyops.tier"
Record = Literal["tier", "database", "edge"]

# repository -> (stack, tier): the contract's names, plus the shared images.
REPOSITORIES: dict[str, tuple[str, str]] = {
    **{c.image_repository: (c.stack, c.tier) for c in components()},
    "unifyops/postgres": (SHARED, "database"),
    "unifyops/edge": (SHARED, "edge"),
    "unifyops/prometheus": (SHARED, "prometheus"),
    "unifyops/logs": (SHARED, "logs"),
}
# What only `uo up` runs, from the working tree: never recorded in infra/, no <env>-latest.
NOT_RECORDED: frozenset[tuple[str, str]] = frozenset(
    {(SHARED, "edge"), (SHARED, "prometheus"), (SHARED, "logs")}
)


@dataclass(frozen=True)
class ImageUnit:
    """One docker_image target as a release unit."""

    address: str
    repository: str
    stack: str
    tier: str
    bases: tuple[str, ...] = ()  # base images it is built on (python, postgres)
    dockerfile: str | None = None  # None: generated from the target's instructions

    @property
    def record(self) -> Record:
        if self.stack == SHARED:
            return "database" if self.tier == "database" else "edge"
        return "tier"


def unit_for_repository(repository: str) -> tuple[str, str]:
    """(stack, tier) of an image repository, e.g. ``unifyops/user-app`` (a registry prefix is
    ignored)."""
    name = "/".join(repository.split("/")[-2:])
    if name not in REPOSITORIES:
        raise ImageKindError(
            f"image repository {repository!r} is not in the naming contract "
            f"(known: {', '.join(sorted(REPOSITORIES))})"
        )
    return REPOSITORIES[name]


def unit_from_target(fields: Mapping[str, Any]) -> ImageUnit:
    """An ImageUnit from a docker_image target's fields as `pants peek` reports them."""
    address = str(fields["address"])
    repository = str(fields.get("repository") or "")
    labels: Mapping[str, str] = fields.get("image_labels") or {}
    expected = REPOSITORIES.get(repository)
    stack, tier = labels.get(STACK_LABEL), labels.get(TIER_LABEL)
    if stack is None or tier is None:
        if expected is None:
            raise ImageKindError(
                f"{address}: repository {repository!r} is not in the naming contract and the "
                f"target has no {STACK_LABEL}/{TIER_LABEL} labels"
            )
        stack, tier = expected
    elif expected is not None and (stack, tier) != expected:
        raise ImageKindError(
            f"{address}: labels say {stack}/{tier} but repository {repository!r} is "
            f"{expected[0]}/{expected[1]} in the naming contract"
        )
    elif stack not in STACKS and stack != SHARED:
        raise ImageKindError(f"{address}: unknown stack {stack!r} in its {STACK_LABEL} label")
    build_args: list[str] = fields.get("extra_build_args") or []
    bases = tuple(
        sorted(
            arg.removeprefix("UO_BASE_").removesuffix("_IMAGE").lower()
            for arg in map(str, build_args)
            if arg.startswith("UO_BASE_") and arg.endswith("_IMAGE")
        )
    )
    sources: list[str] = fields.get("sources") or []
    dockerfile = str(sources[0]) if sources and not fields.get("instructions") else None
    return ImageUnit(address, repository, str(stack), str(tier), bases, dockerfile)


__all__ = [
    "NOT_RECORDED",
    "REPOSITORIES",
    "SHARED",
    "ImageUnit",
    "Record",
    "unit_for_repository",
    "unit_from_target",
]
