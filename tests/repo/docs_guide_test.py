"""The guide in docs/stacks.md stays true: every ```sh block marked
``<!-- executed by tests/repo/docs_guide_test.py -->`` runs, in document order, in one throwaway
clone of the repository, and each command must succeed.

Commands run as written, through bash in the clone, except three that would be costly here and
are replaced by what they run on the same files:
- ``./uo ARGS``: the clone's own uo code (``uo.cli.main``) rather than the launcher, which would
  package a pex first (src/python/uo/launcher_test.py covers the launcher);
- ``./pants lint PATH::``: ruff check and ruff format --check on PATH (the repository's lint
  backend, pants-plugins/uo_ruff, runs the same two);
- ``./pants test PATH``: pytest on PATH with the test PostgreSQL.
Any other Pants goal in a marked block fails the test. Before the migration block the test makes
the model change the guide's prose asks for.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from uo.new_stack import child_path
from uo.repo import find_repo_root

GUIDE = "docs/stacks.md"
MARKER = "<!-- executed by tests/repo/docs_guide_test.py -->"
BLOCK = re.compile("^" + re.escape(MARKER) + r"\n```sh\n(.*?)\n```", re.DOTALL | re.MULTILINE)
UO = "import sys; from uo.cli import main; sys.exit(main(sys.argv[1:]))"
MODELS = "src/python/unifyops/demo/widget/widget_service/models.py"


def blocks(text: str) -> list[list[str]]:
    """The command lines of each marked block (comments and blank lines dropped)."""
    found = []
    for match in BLOCK.finditer(text):
        lines = [re.sub(r"\s+#.*$", "", line).strip() for line in match[1].splitlines()]
        found.append([line for line in lines if line and not line.startswith("#")])
    return found


def _ruff() -> str:
    found = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    return shlex.quote(found) if Path(found).is_file() else f"{shlex.quote(sys.executable)} -m ruff"


def translate(line: str) -> str:
    """A guide command as the test runs it (see the module docstring)."""
    python = shlex.quote(sys.executable)
    words = shlex.split(line)
    if words[0] == "./uo":
        return f"{python} -c {shlex.quote(UO)} {shlex.join(words[1:])}"
    if words[0] == "./pants":
        goal, paths = words[1], [w.removesuffix("::") for w in words[2:]]
        if goal == "lint":
            joined = shlex.join(paths)
            return f"{_ruff()} check {joined} && {_ruff()} format --check {joined}"
        if goal == "test":
            return f"{python} -m pytest -q -p no:cacheprovider {shlex.join(paths)}"
        pytest.fail(f"{GUIDE}: `{line}`: the docs test runs no Pants goal but lint and test")
    return line


def add_a_column(clone: Path) -> None:
    models = clone / MODELS
    models.write_text(
        models.read_text().replace(
            "    version: Mapped[int]",
            '    colour: Mapped[str] = mapped_column(String(20), default="")\n'
            "    version: Mapped[int]",
        )
    )


# What the guide's prose asks for before a block, keyed by the block's first command.
BEFORE = {'./uo new migration widget "add item colour"': add_a_column}


def test_the_guide_marks_blocks_for_every_section() -> None:
    text = (find_repo_root() / GUIDE).read_text()
    markers = re.findall("^" + re.escape(MARKER) + "$", text, re.MULTILINE)
    assert len(markers) == len(blocks(text)) >= 3, "a marker not followed by a ```sh block"


def test_the_guide_runs(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(find_repo_root()), str(clone)], check=True)
    env = {
        **os.environ,
        "UO_REPO_ROOT": str(clone),
        "PYTHONPATH": os.pathsep.join([str(clone / "tests"), child_path(clone)]),
    }
    for commands in blocks((clone / GUIDE).read_text()):
        if commands[0] in BEFORE:
            BEFORE[commands[0]](clone)
        for line in commands:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", translate(line)],
                cwd=clone, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"`{line}`:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    written = clone / "src/python/unifyops/demo/widget/widget_service/migrations/versions"
    assert (written / "0002_add_item_colour.py").is_file()
