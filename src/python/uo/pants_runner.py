"""Running the repository's own ./pants from the uo CLI (uo runs as a pex outside Pants).

This is the one place uo calls Pants; tests that cannot afford a real Pants replace ``Pants.run``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from uo.errors import PantsError
from uo.units import ImageUnit, unit_from_target

# What the docker_image targets are made of: the BUILD files, the macros and the prelude they read,
# and Pants' own configuration. Their content is the key of the cached `peek` of every image.
IMAGE_DEFINITIONS = (
    "BUILD",
    "**/BUILD",
    "pants.toml",
    "build-support/pants/macros.py",
    "src/python/unifyops_core/stack_registry.py",
)


def _cache_root() -> Path:
    return Path(os.environ.get("UO_CACHE_DIR") or Path.home() / ".cache" / "unifyops")


def definitions_key(repo: Path) -> str | None:
    """A digest of the image definitions as the working tree has them (committed or not), or None
    where git cannot list them (then nothing is cached)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"]
        + [f":(glob){pattern}" for pattern in IMAGE_DEFINITIONS],
        cwd=repo,
        capture_output=True,
    )
    if listed.returncode != 0:
        return None
    digest = hashlib.sha256()
    for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        path = repo / name
        if path.is_file():  # listed but deleted in the working tree: not a definition any more
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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
        if specs:
            return [unit_from_target(target) for target in self._peek_images(specs)]
        # All of them: from the cache while the definitions are unchanged. `uo affected` needs
        # the full list on every run, and a `pants peek ::` is half of its time.
        key = definitions_key(self.repo)
        cached = _cache_root() / "uo-images" / f"{key}.json"
        targets: list[dict[str, object]] | None = None
        if key is not None and cached.is_file():
            try:
                targets = json.loads(cached.read_text())
            except ValueError:
                targets = None  # a torn or foreign file: ask Pants again
        if targets is None:
            targets = self._peek_images(("::",))
            if key is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(f".{os.getpid()}.tmp")
                partial.write_text(json.dumps(targets))
                partial.replace(cached)
        return [unit_from_target(target) for target in targets]

    def _peek_images(self, specs: tuple[str, ...]) -> list[dict[str, object]]:
        lines = self.run("peek", "--filter-target-type=docker_image", *specs)
        try:
            targets = json.loads("\n".join(lines)) if lines else []
        except ValueError as exc:
            raise PantsError(f"./pants peek printed something that is not JSON ({exc})") from exc
        return list(targets)

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


__all__ = ["IMAGE_DEFINITIONS", "Pants", "PantsError", "definitions_key"]
