"""Running the repository's own ./pants from the uo CLI (uo runs as a pex outside Pants)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class PantsError(Exception):
    """A Pants command failed; carries the end of its output."""


class Pants:
    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def run(self, *args: str) -> list[str]:
        """Run ``./pants ARGS`` and return its non-empty output lines."""
        result = subprocess.run(["./pants", *args], cwd=self.repo, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise PantsError(f"./pants {' '.join(args)} failed:\n{tail}")
        return [line for line in result.stdout.splitlines() if line.strip()]

    def images(self, *specs: str) -> list[str]:
        """Addresses of the docker_image targets among ``specs`` (default: all)."""
        return self.run("list", "--filter-target-type=docker_image", *(specs or ("::",)))

    def affected_by(self, files: list[str]) -> list[str]:
        """Targets owning these files and everything depending on them, in one Pants call
        (files no target owns are skipped)."""
        if not files:
            return []
        return self.run(
            "--unmatched-cli-globs=ignore", "dependents", "--transitive", "--closed", *files
        )

    def dependencies(self, target: str) -> list[str]:
        return self.run("dependencies", "--transitive", target)


__all__ = ["Pants", "PantsError"]
