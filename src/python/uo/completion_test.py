"""`uo completion bash`, loaded into a real bash and asked what a Tab would offer."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from unifyops_core.naming import STACKS
from uo.cli import main
from uo.commands import COMMANDS

BASH = shutil.which("bash") or "/bin/bash"


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `uo completion bash` prints, in a file (as `source <(...)` would read it)."""
    path = tmp_path_factory.mktemp("completion") / "uo.bash"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["completion", "bash"]) == 0
    path.write_text(out.getvalue())
    return path


def offered(script: Path, *words: str, cwd: Path | None = None) -> list[str]:
    """COMPREPLY for the command line ``words`` (the last one is the word being completed)."""
    program = 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _uo_complete; '
    program += 'printf "%s\\n" "${COMPREPLY[@]}"'
    done = subprocess.run(
        [BASH, "-c", program, str(script), *words],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


def test_every_command_is_offered_at_the_start(script: Path) -> None:
    names = offered(script, "uo", "")
    for command in ("up", "status", "where", "completion", "trace", "new"):
        assert command in names
    assert len(names) == len(set(names)) >= len(COMMANDS)
    assert offered(script, "uo", "st") == ["status"]
    assert offered(script, "uo", "--v") == ["--version"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("uo", "up", "--w"), ["--watch"]),
        (("uo", "up", "--env", ""), ["local", "test", "dev", "staging", "prod"]),
        (("uo", "up", "--env", "dev", "--stack", "u"), ["user"]),
        (("uo", "up", "--watch", "--in"), ["--interval"]),
        (("uo", "logs", ""), [*sorted(STACKS), "platform", "monitoring"]),
        (("uo", "logs", "--level", "w"), ["warning"]),
        (("uo", "logs", "--since", ""), []),  # a duration: nothing to guess
        (("uo", "new", ""), ["stack", "migration"]),
        (("uo", "new", "stack", "--d"), ["--dry-run"]),
        (("uo", "chart", "publish", "--env", "s"), ["staging"]),
        (("uo", "promote", "dev", "s"), ["staging"]),
        (("uo", "completion", ""), ["bash"]),
    ],
)
def test_options_values_and_positionals(
    script: Path, words: tuple[str, ...], expected: list[str]
) -> None:
    assert offered(script, *words) == expected


def test_since_offers_the_branches_and_tags_of_the_checkout(script: Path, tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty",
        "-m", "first")  # fmt: skip
    git("tag", "v0.1.0")
    git("branch", "feature/watch")
    assert offered(script, "uo", "affected", "--since", "", cwd=tmp_path) == [
        "feature/watch",
        "main",
        "v0.1.0",
    ]
    assert offered(script, "uo", "matrix", "--since", "fe", cwd=tmp_path) == ["feature/watch"]
