"""uo status / where / promote on a throwaway git repository holding the real infra/ files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from uo.bump import Release, bump
from uo.cli import main
from uo.state import promotion, status_rows, where_core

DIGEST = "sha256:" + "cd" * 32


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(Path.cwd() / "infra/environments", root / "infra/environments")
    shutil.copytree(Path.cwd() / "src/charts", root / "src/charts")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@unifyops.invalid")
    git(root, "config", "user.name", "ci")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    monkeypatch.setenv("UO_REPO_ROOT", str(root))
    return root


def test_status_lists_every_environment_stack_and_tier(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three environments x three stacks x (app, api, service and the internal database).
    assert len(status_rows(repo)) == 3 * 3 * 4
    assert main(["status"]) == 0
    out = capsys.readouterr().out.split("\n\n")[0].splitlines()  # the desired-state table
    assert out[0].split()[:3] == ["ENV", "STACK", "TIER"]
    assert len(out) == 37
    assert sum(line.split()[2] == "database" for line in out[1:]) == 9


def test_where_core_follows_bumps(repo: Path) -> None:
    recorded = YAML().load((repo / "infra/environments/dev/user.yaml").read_text())["coreVersion"]
    assert len(where_core(repo, str(recorded))) == 9
    bump(repo, "dev", [Release("user", "api", "abc1234", DIGEST, "9.0.0")])
    assert where_core(repo, "9.0.0") == [("dev", "user")]


def test_promote_copies_exact_digests_after_showing_the_diff(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bump(repo, "dev", [Release("user", "api", "abc1234", DIGEST, "0.2.0")])
    assert [r.stack for r in promotion(repo, "dev", "staging")] == [
        "user",
        "user",
        "user",
    ]  # core version moves
    head = git(repo, "rev-parse", "HEAD")
    staging_before = YAML().load((repo / "infra/environments/staging/user.yaml").read_text())
    assert main(["promote", "dev", "staging", "--stack", "user"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out
    # Each image as what staging runs now -> what it would run, core versions included.
    held = staging_before["tiers"]["api"]["image"]["tag"][:12]
    core = staging_before["coreVersion"]
    assert f"staging: user-api {held} core {core} -> abc1234 {DIGEST} core 0.2.0\n" in out
    assert git(repo, "rev-parse", "HEAD") == head
    # Moving staging-latest needs staging's registry (cli_release_test covers it with a real one).
    assert main(["promote", "dev", "staging", "--stack", "user", "--yes", "--no-latest"]) == 0
    staging = (repo / "infra/environments/staging/user.yaml").read_text()
    assert DIGEST in staging
    assert 'coreVersion: "0.2.0"' in staging or "coreVersion: 0.2.0" in staging
    assert promotion(repo, "dev", "staging", ["user"]) == []
