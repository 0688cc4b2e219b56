"""Running the repository's own ./pants from the uo CLI (uo runs as a pex outside Pants).

This is the one place uo calls Pants; tests that cannot afford a real Pants replace ``Pants.run``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from uo.errors import PantsError
from uo.units import ImageUnit, unit_from_target


class Pants:
    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def run(self, *args: str) -> list[str]:
        """Run ``./pants ARGS`` and return its non-empty output lines."""
        result = subprocess.run(["./pants", *args], cwd=self.repo, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise PantsError(
                f"./pants {' '.join(args)} failed (exit {result.returncode})", detail=tail
            )
        return [line for line in result.stdout.splitlines() if line.strip()]

    def images(self, *specs: str) -> list[ImageUnit]:
        """The docker_image targets among ``specs`` (default: all) as release units, read from
        the targets' own fields (repository, labels, build args) in one `pants peek`."""
        lines = self.run("peek", "--filter-target-type=docker_image", *(specs or ("::",)))
        try:
            targets = json.loads("\n".join(lines)) if lines else []
        except ValueError as exc:
            raise PantsError(f"./pants peek printed something that is not JSON ({exc})") from exc
        return [unit_from_target(target) for target in targets]

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
