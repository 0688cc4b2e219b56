"""`uo check-core`: every service supports the unifyops_core version being built, and core's
sources never change without a version bump (so an image's core-version label means something)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from unifyops_core.compat import IncompatibleCoreError, check_core
from uo.errors import CoreCheckError, GitRefError

CORE_DIR = "src/python/unifyops_core/"
VERSION_FILE = CORE_DIR + "_version.py"
_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
_REQUIREMENT = re.compile(r'^CORE_REQUIREMENT = "([^"]+)"$', re.MULTILINE)


def core_version(repo: Path) -> str:
    try:
        match = _VERSION.search((repo / VERSION_FILE).read_text())
    except OSError as exc:
        raise CoreCheckError(f"cannot read {VERSION_FILE} ({exc.strerror})") from exc
    if not match:
        raise CoreCheckError(f"{VERSION_FILE} has no __version__ line")
    return match.group(1)


def pin_problems(repo: Path) -> list[str]:
    version = core_version(repo)
    problems = []
    packages = sorted((repo / "src/python/unifyops").glob("*/*/*/__init__.py"))
    if not packages:
        problems.append("no service packages found under src/python/unifyops")
    for init in packages:
        service = init.parent.name.replace("_", "-")
        match = _REQUIREMENT.search(init.read_text())
        if not match:
            problems.append(f"{service}: declares no CORE_REQUIREMENT in {init.relative_to(repo)}")
            continue
        try:
            check_core(match.group(1), service=service, core_version=version)
        except IncompatibleCoreError as exc:
            problems.append(str(exc))
    return problems


def unbumped_core_change(repo: Path, since: str) -> str | None:
    diff = subprocess.run(
        ["git", "diff", "--name-only", f"{since}^{{commit}}", "--", CORE_DIR],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if diff.returncode != 0:
        raise GitRefError(f"{since!r} is not a commit in this repository (try --since HEAD~1)")
    changed = diff.stdout.split()
    shipped = [
        f for f in changed if f.endswith(".py") and not f.endswith(("_test.py", "_testutil.py"))
    ]
    if shipped and VERSION_FILE not in changed:
        files = ", ".join(shipped[:3]) + (" ..." if len(shipped) > 3 else "")
        return (
            f"unifyops_core changed since {since} ({files}) without a version bump: "
            f"raise __version__ in {VERSION_FILE} and note it in the CHANGELOG"
        )
    return None


__all__ = ["core_version", "pin_problems", "unbumped_core_change"]
