"""What `uo --version` prints: the checkout's commit, the unifyops_core version this uo runs on
and the chart version the checkout holds — the three things a bug report about a release needs.
Read on demand (no side effects, no network), so `--version` works outside a checkout too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

import unifyops_core
from uo.repo import CHART_PATH, RepoNotFoundError, find_repo_root


def _commit(repo: Path) -> str:
    """The short commit of ``repo``, ``-dirty`` when the working tree differs; ``unknown`` when
    it is no git checkout (e.g. an exported copy)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        changes = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if changes else head


def version_line() -> str:
    core = f"unifyops_core {unifyops_core.__version__}"
    try:
        repo = find_repo_root()
    except RepoNotFoundError:
        return f"uo ({core}; outside a UnifyOps checkout)"
    chart = yaml.safe_load((repo / CHART_PATH / "Chart.yaml").read_text())
    return f"uo {_commit(repo)} ({core}, chart {chart['name']} {chart['version']})"


__all__ = ["version_line"]
