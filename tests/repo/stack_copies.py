"""Finds hand-written copies of the stack list: a list, tuple, set, dict or array literal that
names most of the registry's stacks (``("auth", "user", "environment")``,
``["auth-api", "user-api", ...]``, a package.json ``workspaces`` entry per app), outside the
registry (src/python/unifyops_core/stack_registry.py).

Such a copy silently drifts when a stack is added or removed; code derives the list from
``unifyops_core.naming`` instead. The few places that cannot read the registry are listed in
``CHECKED_COPIES`` with the test that keeps each one equal to it.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGISTRY = "src/python/unifyops_core/stack_registry.py"

# Copies no code can derive, each kept equal to the registry by the named test.
CHECKED_COPIES: dict[str, str] = {
    # mypy accepts only literal values in a Literal.
    "src/python/unifyops/platform/environment/environment_service/schemas.py": (
        "src/python/unifyops/platform/environment/environment_service/schemas_test.py"
    ),
    # npm and tsc read JSON only.
    "src/web/package.json": "tests/repo/stack_registry_test.py",
    "src/web/tsconfig.json": "tests/repo/stack_registry_test.py",
    # Module imports (Pants infers dependencies from them); the harness compares them at import.
    "tests/integration/platform_harness.py": "tests/integration/platform_harness.py",
    # One read endpoint per stack; Traffic.targets compares its keys with the registry.
    "tests/faults/traffic.py": "tests/faults/traffic.py",
    # The gateways the auth stack registers, an infra setting per environment.
    "infra/environments/dev/auth.yaml": "tests/infra/infra_files_test.py",
    "infra/environments/staging/auth.yaml": "tests/infra/infra_files_test.py",
    "infra/environments/prod/auth.yaml": "tests/infra/infra_files_test.py",
}

_TS_ARRAY = re.compile(r"\[([^\[\]]*)\]")
_TS_STRING = re.compile(r"""["'`]([^"'`]*)["'`]""")


@dataclass(frozen=True)
class Copy:
    path: str
    line: int
    stacks: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: a hand-written list of stacks ({', '.join(self.stacks)}); "
            f"derive it from unifyops_core.naming (the registry: {REGISTRY})"
        )


class Finder:
    def __init__(self, stacks: Collection[str]) -> None:
        self.stacks = tuple(stacks)
        # A copy names most of them: all of a small registry, at least three of a larger one (a
        # stale copy of an older list still counts; a pair such as user-service -> auth-api
        # is a fact about two stacks, not a list).
        self.threshold = min(3, len(self.stacks))
        names = "|".join(re.escape(stack) for stack in self.stacks)
        # "auth", "auth-api", "auth_app", "auth_app/src": a stack's own names.
        self._name = re.compile(rf"^({names})(?:$|[-_/])")

    def stacks_in(self, strings: Iterator[str]) -> tuple[str, ...]:
        found = dict.fromkeys(m.group(1) for s in strings if (m := self._name.match(s)))
        return tuple(found) if len(found) >= self.threshold else ()

    def scan(self, path: str, text: str) -> Iterator[Copy]:
        name = path.rsplit("/", 1)[-1]
        if path.endswith(".py") or name == "BUILD":
            yield from self._python(path, text)
        elif path.endswith(".json") and not name.endswith("-lock.json"):
            yield from self._data(path, _json(text))
        elif path.endswith((".yaml", ".yml")):
            for document in _yaml(text):
                yield from self._data(path, document)
        elif path.endswith((".ts", ".tsx")):
            yield from self._typescript(path, text)

    def _python(self, path: str, text: str) -> Iterator[Copy]:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.List | ast.Tuple | ast.Set):
                elements = list(node.elts)
            elif isinstance(node, ast.Dict):
                elements = [key for key in node.keys if key is not None]
            else:
                continue
            strings = (e.value for e in elements if isinstance(e, ast.Constant))
            if found := self.stacks_in(s for s in strings if isinstance(s, str)):
                yield Copy(path, node.lineno, found)

    def _data(self, path: str, data: Any) -> Iterator[Copy]:
        # JSON and YAML carry no line numbers once parsed: the finding names the file.
        for sequence in _sequences(data):
            if found := self.stacks_in(s for s in sequence if isinstance(s, str)):
                yield Copy(path, 0, found)

    def _typescript(self, path: str, text: str) -> Iterator[Copy]:
        for match in _TS_ARRAY.finditer(text):
            strings = (s.group(1) for s in _TS_STRING.finditer(match.group(1)))
            if found := self.stacks_in(strings):
                yield Copy(path, text.count("\n", 0, match.start()) + 1, found)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None  # tsconfig-style JSON with comments: not a list of stacks we can read


def _yaml(text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []  # Helm templates are not YAML until rendered


def _sequences(data: Any) -> Iterator[list[Any]]:
    if isinstance(data, list):
        yield data
        for item in data:
            yield from _sequences(item)
    elif isinstance(data, dict):
        yield list(data)
        for value in data.values():
            yield from _sequences(value)


def scan_files(root: Path, files: list[Path], stacks: Collection[str]) -> list[Copy]:
    finder = Finder(stacks)
    copies: list[Copy] = []
    for file in files:
        relative = file.relative_to(root).as_posix()
        if relative == REGISTRY or relative in CHECKED_COPIES or not file.is_file():
            continue
        data = file.read_bytes()
        if b"\0" in data:
            continue
        copies.extend(finder.scan(relative, data.decode("utf-8", errors="replace")))
    return copies


__all__ = ["CHECKED_COPIES", "REGISTRY", "Copy", "Finder", "scan_files"]
