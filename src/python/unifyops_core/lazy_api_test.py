"""The package's public names resolve on first use (PEP 562) to the objects their modules define,
and importing one light module does not load the web and database stack."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import unifyops_core
from unifyops_core import desired_state, naming


def test_every_public_name_resolves_to_its_modules_object() -> None:
    for name in unifyops_core.__all__:
        value = getattr(unifyops_core, name)
        if name == "__version__":
            continue
        owners = [
            module
            for module in unifyops_core._MODULES
            if getattr(importlib.import_module(f"unifyops_core.{module}"), name, None) is value
        ]
        assert owners, name
    assert set(unifyops_core.__all__) <= set(dir(unifyops_core))


def test_the_lazy_modules_are_the_ones_the_type_checker_sees() -> None:
    tree = ast.parse(Path(unifyops_core.__file__ or "").read_text())
    imported = {
        (node.module or "").split(".", 1)[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unifyops_core.")
    }
    assert imported - {"_version"} == set(unifyops_core._MODULES)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchName"):
        unifyops_core.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_the_naming_contract_loads_without_fastapi_or_sqlalchemy() -> None:
    assert naming.__name__ in sys.modules  # this process has them; the child loads them alone
    assert desired_state.__name__ in sys.modules
    code = (
        "import sys, unifyops_core.naming, unifyops_core.desired_state; "
        "print(sorted(m for m in ('fastapi', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(sys.path)},
    )
    assert result.stdout.strip() == "[]"
