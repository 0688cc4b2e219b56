"""Every failure the operator can act on derives from ``UoError``; `uo.cli` turns one into a
one-line message (``uo <command>: <message>``) and the class's exit code, never a traceback.

    UoError
    ├── UsageError ················ a command was asked for something it cannot mean (exit 2)
    ├── RepoNotFoundError ········· not run inside a UnifyOps checkout
    ├── GitRefError ··············· --since names no commit
    ├── PantsError ················ a ./pants call failed (its output's tail is the detail)
    ├── ImageKindError ············ a docker_image target names no known release unit
    ├── RegistryError ············· the registry does not answer or lacks an image
    ├── InfraError ················ infra/environments is missing a file or is malformed
    │   ├── RenderError ··········· the chart refused an environment's values
    │   └── BumpError ············· a manifest or the repository cannot be bumped from
    ├── CoreCheckError ············ a service does not support the core version being built
    ├── SealError ················· `uo seal` cannot write the SealedSecrets (uo.sealed_secrets)
    ├── LocalEnvironmentError ····· `uo up/down/logs` failed (engine, rollout, missing image)
    ├── RoleError ················· `uo grant/revoke` was refused (unknown account, last admin)
    └── RecordError ··············· bump/promote committed, but environment-api did not record
                                    the deployments (exit 3; the commit stays)
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# The infra commit was made (and pushed, if asked) but its deployments are not in the history:
# the release itself worked; re-running the same command records what is missing.
EXIT_NOT_RECORDED = 3


class UoError(Exception):
    """Base class: a failure reported as one line, with an exit code per class."""

    exit_code: ClassVar[int] = EXIT_FAILURE

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class UsageError(UoError):
    """The arguments parse but make no sense together (e.g. promote an environment to itself)."""

    exit_code = EXIT_USAGE


class RepoNotFoundError(UoError):
    """No UnifyOps checkout contains the working directory (or $UO_REPO_ROOT)."""


class GitRefError(UoError):
    """The --since reference does not name a commit."""


class PantsError(UoError):
    """A Pants command failed; ``detail`` carries the end of its output."""


class ImageKindError(UoError):
    """A docker_image target's repository and labels name no release unit of the contract."""


class RegistryError(UoError):
    """The registry does not answer, or does not hold an image it should."""


class InfraError(UoError):
    """An infra file is missing, unreadable or not in the expected shape."""


class RenderError(InfraError):
    """The chart refused the values (a `fail`/`required` message or a schema violation)."""


class BumpError(InfraError):
    """The manifest or the repository is not in a state a bump can be made from."""


class CoreCheckError(UoError):
    """A service's CORE_REQUIREMENT rejects the core version, or core changed without a bump."""


class LocalEnvironmentError(UoError):
    """Running an environment on this machine failed (engine, rollout or a missing image)."""


class RoleError(UoError):
    """auth-service refused a role change: no such account, or it would remove the last admin."""


class RecordError(UoError):
    """environment-api did not record a deployment (unreachable, credential refused, no scope);
    the infra commit is kept."""

    exit_code = EXIT_NOT_RECORDED

    def __str__(self) -> str:
        return (
            f"warning: the infra commit is kept, but its deployments were not recorded: "
            f"{super().__str__()}. Re-run the same command to record them (a record is kept "
            "once however often it is sent)."
        )


__all__ = [
    "EXIT_FAILURE",
    "EXIT_NOT_RECORDED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BumpError",
    "CoreCheckError",
    "GitRefError",
    "ImageKindError",
    "InfraError",
    "LocalEnvironmentError",
    "PantsError",
    "RecordError",
    "RegistryError",
    "RenderError",
    "RepoNotFoundError",
    "RoleError",
    "UoError",
    "UsageError",
]
