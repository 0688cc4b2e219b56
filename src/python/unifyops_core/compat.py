"""Versioned core pins: every service states which unifyops_core versions it supports."""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from unifyops_core._version import __version__


class IncompatibleCoreError(RuntimeError):
    """The unifyops_core in use is outside the range a service declares."""


def check_core(requirement: str, *, service: str, core_version: str = __version__) -> None:
    """Raise unless ``core_version`` satisfies ``requirement`` (e.g. ``">=0.1,<0.2"``)."""
    try:
        allowed = SpecifierSet(requirement)
    except InvalidSpecifier as exc:
        raise IncompatibleCoreError(
            f"{service}: CORE_REQUIREMENT {requirement!r} is not a version range"
        ) from exc
    if Version(core_version) not in allowed:
        raise IncompatibleCoreError(
            f"{service} supports unifyops_core {requirement}, but this build has {core_version}: "
            f"update {service} for the new core (and widen its CORE_REQUIREMENT), or pin core back"
        )


__all__ = ["IncompatibleCoreError", "check_core"]
