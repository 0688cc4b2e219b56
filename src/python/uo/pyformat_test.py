"""Migration bodies are laid out as ruff format lays them out: held to ruff itself (here in the
tests; the built `uo` that writes them has no ruff)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from uo.pyformat import LINE_LENGTH, format_statements

LONG = "a_column_name_long_enough_to_push_a_statement_past_the_line_length"
BODIES = {
    "short": "op.drop_column('items', 'colour')",
    "one long call": (
        f"op.add_column('items', sa.Column('{LONG}', sa.String(length=200), "
        "server_default=sa.text(\"'x'\"), nullable=False))"
    ),
    "nested": (
        "op.create_table('things', sa.Column('id', sa.Integer(), nullable=False), "
        f"sa.Column('{LONG}', postgresql.UUID(as_uuid=True), nullable=True), "
        "sa.PrimaryKeyConstraint('id'), "
        "sa.ForeignKeyConstraint(['owner'], ['items.id'], ondelete='CASCADE'))"
    ),
    "long list": f"op.create_index(op.f('ix_{LONG}'), 'items', ['{LONG}', '{LONG}'], unique=False)",
    "several": "op.drop_index('ix_a', table_name='items')\nop.drop_table('items')",
    "quotes": "op.execute('UPDATE items SET name = \\'x\\' WHERE name = \"y\"')",
    "uneven quotes": "op.execute('it\\'s \\'a\\' \"b\"\"', x='y')",
}


def _ruff() -> list[str]:
    found = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    return [found] if Path(found).is_file() else [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("body", BODIES.values(), ids=list(BODIES))
def test_ruff_format_leaves_it_as_written(body: str, tmp_path: Path) -> None:
    text = f"def upgrade() -> None:\n{format_statements(body)}\n"
    path = tmp_path / "0002_change.py"
    path.write_text(text)
    # ruff.toml sets nothing for the formatter but the line length.
    done = subprocess.run(
        [*_ruff(), "format", "--isolated", "--line-length", str(LINE_LENGTH), "--diff", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(len(line) <= LINE_LENGTH for line in text.splitlines())
    compile(text, str(path), "exec")


def test_short_statements_stay_on_one_line_with_double_quotes() -> None:
    assert format_statements(BODIES["short"]) == '    op.drop_column("items", "colour")'


def test_long_ones_split_one_element_a_line() -> None:
    lines = format_statements(BODIES["one long call"]).splitlines()
    assert lines[0] == "    op.add_column("
    assert lines[1] == '        "items",'
    assert lines[-1] == "    )"


@pytest.mark.parametrize(
    "text", ["plain", "it's", 'say "hi"', "both ' and \"", 'more "" than \'', "back\\slash\n"]
)
def test_string_literals_read_back_as_written(text: str) -> None:
    written = format_statements(f"f({text!r})").strip()
    assert eval(written.removeprefix("f(").removesuffix(")")) == text  # noqa: S307
