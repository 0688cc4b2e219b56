"""The ./uo launcher's cache key: it changes whenever an input of the uo pex changes (or the
cached pex would run stale code) and only then (or every command would wait for Pants)."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

LAUNCHER = Path.cwd() / "uo"
INPUTS = re.search(r"^UO_INPUTS=\(\n(.*?)\n\)", LAUNCHER.read_text(), re.S | re.M)
assert INPUTS, "the launcher lists UO_INPUTS=( ... ) on lines of their own"
UO_INPUTS = INPUTS.group(1).split()


def first_party_imports(package: Path) -> set[str]:
    """Top-level first-party packages the package's shipped modules import."""
    names: set[str] = set()
    for module in package.rglob("*.py"):
        if module.name.endswith("_test.py"):
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    first_party = set()
    for name in names:
        spec = importlib.util.find_spec(name)
        origin = (spec.origin or "") if spec else ""
        if "/src/python/" in origin:
            first_party.add(origin.split("/src/python/", 1)[1].split("/")[0])
    return first_party


def test_the_inputs_cover_every_package_uo_imports() -> None:
    packages = {"uo"}
    seen: set[str] = set()
    while packages - seen:
        package = sorted(packages - seen)[0]
        seen.add(package)
        packages |= first_party_imports(Path.cwd() / "src/python" / package)
    assert {"uo", "unifyops_core"} <= seen
    assert {f"src/python/{package}" for package in seen} <= set(UO_INPUTS)


@pytest.fixture
def key(tmp_path: Path) -> Callable[[], str]:
    repo = tmp_path / "repo"
    (repo / "src/python/uo").mkdir(parents=True)
    (repo / "src/python/uo/cli.py").write_text("print('v1')\n")
    (repo / "docs").mkdir()
    (repo / "docs/notes.md").write_text("notes\n")
    shutil.copy(LAUNCHER, repo / "uo")
    for command in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.email=t@unifyops.invalid", "-c", "user.name=t", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", *command], cwd=repo, check=True)
    script = (
        'set -euo pipefail; buildroot="$PWD"; '
        + "eval \"$(sed -n '/^UO_INPUTS=(/,/^)/p;/^input_key()/,/^}/p' uo)\"; input_key"
    )

    def compute() -> str:
        result = subprocess.run(
            ["bash", "-c", script], cwd=repo, capture_output=True, text=True, check=True
        )
        assert re.fullmatch(r"[0-9a-f]{32}\n", result.stdout), result
        return result.stdout

    compute.repo = repo  # type: ignore[attr-defined]
    return compute


def test_the_key_follows_every_kind_of_edit_to_an_input(key: Callable[[], str]) -> None:
    repo: Path = key.repo  # type: ignore[attr-defined]
    cli = repo / "src/python/uo/cli.py"
    seen = [key()]

    def changed() -> bool:
        seen.append(key())
        return seen[-1] not in seen[:-1]

    cli.write_text("print('v2')\n")  # an uncommitted edit
    assert changed()
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)  # staged: the same content
    assert key() == seen[-1]
    cli.write_text("print('v3')\n")  # staged v2, edited again
    assert changed()
    (repo / "src/python/uo/new.py").write_text("x = 1\n")  # an untracked file
    assert changed()
    (repo / "src/python/uo/new.py").write_text("x = 2\n")  # its content
    assert changed()
    cli.unlink()  # a deletion
    assert changed()
    cli.write_text("print('v3')\n")  # back to a state seen before: the same key again
    (repo / "src/python/uo/new.py").write_text("x = 2\n")
    assert key() == seen[-2]


def test_the_key_ignores_what_is_no_input(key: Callable[[], str]) -> None:
    repo: Path = key.repo  # type: ignore[attr-defined]
    before = key()
    (repo / "docs/notes.md").write_text("more notes\n")
    (repo / "docs/new.md").write_text("new\n")
    (repo / "src/python/uo/cli.py").touch()  # a new mtime, the same content
    (repo / "src/python/uo/__pycache__").mkdir()
    assert key() == before
