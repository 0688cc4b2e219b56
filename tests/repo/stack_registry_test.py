"""The stack registry (src/python/unifyops_core/stack_registry.py) stays the single source: no
hand-written copy of the stack list anywhere, and the few lists that cannot read it equal it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from repo.hygiene import committable_files
from repo.stack_copies import CHECKED_COPIES, REGISTRY, Finder, scan_files
from unifyops_core.naming import STACKS
from uo.new_stack import MAX_STACK_LENGTH

EDIT = f"edit it to list the stacks of {REGISTRY}, in order"


@pytest.fixture(scope="module")
def root() -> Path:
    # The working tree itself, as in hygiene_test.py: ./pants exports UO_REPO_ROOT.
    root = Path(os.environ["UO_REPO_ROOT"])
    assert (root / "pants.toml").is_file(), f"{root} is not the repository root"
    return root


def test_no_file_writes_out_the_stack_list(root: Path) -> None:
    copies = scan_files(root, committable_files(root), STACKS)
    assert not copies, "\n".join(str(copy) for copy in copies)


@pytest.mark.parametrize("path", sorted(CHECKED_COPIES))
def test_each_checked_copy_is_still_a_copy_and_its_test_exists(root: Path, path: str) -> None:
    # Otherwise the exemption outlives its reason and hides a new copy in that file.
    text = (root / path).read_text()
    assert list(Finder(STACKS).scan(path, text)), f"{path} no longer lists the stacks"
    assert (root / CHECKED_COPIES[path]).is_file()


def test_web_workspaces_are_one_app_per_stack(root: Path) -> None:
    web = root / "src/web"
    apps = [f"{stack}_app" for stack in STACKS]
    package = json.loads((web / "package.json").read_text())
    assert package["workspaces"] == ["shared", *apps], f"src/web/package.json workspaces: {EDIT}"
    tsconfig = json.loads((web / "tsconfig.json").read_text())
    assert tsconfig["include"] == [
        "shared/src",
        *(f"{app}/src" for app in apps),
        "vitest.config.ts",
    ], f"src/web/tsconfig.json include: {EDIT}"
    assert sorted(p.parent.name for p in web.glob("*_app/package.json")) == sorted(apps)


def test_the_chart_accepts_any_stack_name_of_the_naming_contract(root: Path) -> None:
    # No list of stacks in the chart: a new stack deploys with the chart as it is.
    path = "src/charts/unifyops-stack/values.schema.json"
    stack = json.loads((root / path).read_text())["properties"]["stack"]
    assert "enum" not in stack, f"{path}: a stack enum makes every new stack a chart release"
    pattern = re.compile(stack["pattern"])
    assert all(pattern.fullmatch(name) for name in STACKS)
    longest = "w" * MAX_STACK_LENGTH
    assert pattern.fullmatch(longest)
    for refused in (longest + "w", "Widget", "9widget", "wid-get", ""):
        assert not pattern.fullmatch(refused), refused


def test_every_stack_folder_is_in_the_registry(root: Path) -> None:
    folders = {
        (path.parent.name, path.name)
        for path in (root / "src/python/unifyops").glob("*/*")
        if path.is_dir() and path.name != "__pycache__"
    }
    assert folders == {(domain, stack) for stack, domain in STACKS.items()}, (
        f"src/python/unifyops/<domain>/<stack> folders and {REGISTRY} differ"
    )


# A registry of made-up names, so that these examples are no copy of the real list.
FINDER = Finder(("alpha", "beta", "gamma"))


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("a.py", 'STACKS = ("alpha", "beta", "gamma")\n'),
        ("a.py", 'x = {"alpha": "one", "beta": "one", "gamma": "two"}\n'),
        ("a_test.py", 'p = parametrize("g", ["alpha-api", "beta-api", "gamma-api"])\n'),
        ("a.py", 'StackName = Literal["alpha", "beta", "gamma"]\n'),
        ("BUILD", 'for s in ("alpha", "beta", "gamma"):\n    app(s)\n'),
        ("package.json", '{"workspaces": ["shared", "alpha_app", "beta_app", "gamma_app"]}'),
        ("values.yaml", "alpha:\n  clients: [alpha, beta, gamma]\n"),
        ("App.tsx", 'const stacks = ["alpha", "beta", "gamma"];\n'),
    ],
)
def test_finds_copies(path: str, text: str) -> None:
    assert [copy.stacks for copy in FINDER.scan(path, text)] == [("alpha", "beta", "gamma")]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("a.py", 'edge = ("beta-service", "alpha-api", 8002)\n'),  # a fact about two stacks
        ("a.py", "x = [f'{s}-api' for s in STACKS]\n"),
        ("a.py", 'users = ["beta_id", "beta_name", "alphabet"]\n'),
        ("README.md", "the stacks (alpha, beta, gamma)\n"),  # prose is not scanned
    ],
)
def test_passes_what_is_not_a_copy(path: str, text: str) -> None:
    assert not list(FINDER.scan(path, text))


def test_a_larger_registry_still_finds_an_older_copy() -> None:
    finder = Finder(("alpha", "beta", "gamma", "delta"))
    assert list(finder.scan("a.py", 'S = ("alpha", "beta", "gamma")\n'))
