"""uo check-core on a throwaway repository shaped like this one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from uo.cli import main

SERVICE_INIT = 'CORE_REQUIREMENT = ">=0.1,<0.2"\n'


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "src/python/unifyops_core").mkdir(parents=True)
    (root / "src/python/unifyops_core/_version.py").write_text('__version__ = "0.1.0"\n')
    (root / "src/python/unifyops_core/errors.py").write_text("X = 1\n")
    for service in ("identity/user/user_api", "identity/user/user_service"):
        (root / "src/python/unifyops" / service).mkdir(parents=True)
        (root / "src/python/unifyops" / service / "__init__.py").write_text(SERVICE_INIT)
    (root / "src/charts/unifyops-stack").mkdir(parents=True)
    (root / "infra/environments").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.email=t@unifyops.invalid", "-c", "user.name=t", "add", "-A")
    git(root, "-c", "user.email=t@unifyops.invalid", "-c", "user.name=t", "commit", "-qm", "init")
    monkeypatch.setenv("UO_REPO_ROOT", str(root))
    return root


def test_passes_when_every_service_supports_the_core(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-core", "--since", "HEAD"]) == 0
    assert "every service supports unifyops_core 0.1.0" in capsys.readouterr().out


def test_a_core_outside_a_services_range_fails_with_the_service_named(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "src/python/unifyops_core/_version.py").write_text('__version__ = "0.2.0"\n')
    assert main(["check-core"]) == 1
    err = capsys.readouterr().err
    assert "user-api supports unifyops_core >=0.1,<0.2, but this build has 0.2.0" in err
    assert "user-service" in err


def test_a_core_change_without_a_version_bump_fails(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "src/python/unifyops_core/errors.py").write_text("X = 2\n")
    assert main(["check-core", "--since", "HEAD"]) == 1
    assert "without a version bump" in capsys.readouterr().err
    (repo / "src/python/unifyops_core/_version.py").write_text('__version__ = "0.1.1"\n')
    assert main(["check-core", "--since", "HEAD"]) == 0


def test_a_test_only_core_change_needs_no_bump(repo: Path) -> None:
    (repo / "src/python/unifyops_core/errors_test.py").write_text("def test_x() -> None: ...\n")
    git(repo, "add", "-A")
    assert main(["check-core", "--since", "HEAD"]) == 0


def test_a_service_without_a_requirement_fails(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "src/python/unifyops/identity/user/user_api/__init__.py").write_text('"""no pin"""\n')
    assert main(["check-core"]) == 1
    assert "declares no CORE_REQUIREMENT" in capsys.readouterr().err
