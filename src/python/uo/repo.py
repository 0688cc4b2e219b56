"""Locating the repository and the files the tools read from it."""

from __future__ import annotations

import os
from pathlib import Path

from uo.errors import RepoNotFoundError

CHART_PATH = "src/charts/unifyops-stack"
ENVIRONMENTS_PATH = "infra/environments"


def find_repo_root(start: Path | None = None) -> Path:
    """The checkout containing ``start`` (default: $UO_REPO_ROOT, else the working directory)."""
    env_root = os.environ.get("UO_REPO_ROOT")
    here = (start or Path(env_root or Path.cwd())).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CHART_PATH).is_dir() and (candidate / ENVIRONMENTS_PATH).is_dir():
            return candidate
    raise RepoNotFoundError(
        f"{here} is not inside a UnifyOps checkout (no {CHART_PATH} and {ENVIRONMENTS_PATH}); "
        "run uo from the repository or set UO_REPO_ROOT"
    )


__all__ = ["CHART_PATH", "ENVIRONMENTS_PATH", "RepoNotFoundError", "find_repo_root"]
