"""`uo new stack <domain>/<name>`: a working vertical slice from the template in uo/templates.

What is written (``plan``): the stack's Python packages (gateway and service on the tier kit of
unifyops_core, one example resource with optimistic concurrency, its first migration, tests, BUILD
files), its app on the shared UI package, and ``infra/environments/<env>/<stack>.yaml`` for every
environment. What is edited (``wiring``): the stack registry, and the few lists that cannot read it
(docs/stacks.md, "What to edit to add a stack"), each edit made on the file's text so the rest of
the file stays as it was. Ports are not written anywhere: they follow from the registry.
"""

from __future__ import annotations

import ast
import json
import keyword
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from unifyops_core.naming import ENVIRONMENTS, TIER_PORTS
from uo.errors import InfraError, UsageError

REGISTRY = "src/python/unifyops_core/stack_registry.py"
CORE_VERSION_FILE = "src/python/unifyops_core/_version.py"
TEMPLATE_SUFFIX = ".tmpl"
# Pants takes any file named BUILD* for a BUILD file, so the templates of BUILD files have another
# name.
BUILD_TEMPLATE = "pants-BUILD"

_NAME = re.compile(r"^[a-z][a-z0-9]*$")
# The longest name derived from a stack: the chart's migration Job `<stack>-migrate-<10 hex>`,
# whose pods add `-<5 chars>`, all within a 63-character DNS label.
MAX_STACK_LENGTH = 63 - len("-migrate-") - 10 - 6
MAX_DOMAIN_LENGTH = 63
# Names that are folders next to the apps (src/web/shared, src/web/browser), first-party
# packages, tiers or environments: a stack of that name would be ambiguous wherever it appears.
RESERVED = frozenset(
    {"browser", "shared", "core", "unifyops", "uo", "test", "tests", "local", "migrate"}
    | set(TIER_PORTS)
    | set(ENVIRONMENTS)
)


@dataclass(frozen=True)
class NewStack:
    domain: str
    stack: str

    def substitutions(self, repo: Path) -> dict[str, str]:
        return {
            "{{domain}}": self.domain,
            "{{stack}}": self.stack,
            "{{Stack}}": self.stack.capitalize(),
            "{{core_requirement}}": core_requirement(repo),
            "__domain__": self.domain,
            "__stack__": self.stack,
        }


@dataclass(frozen=True)
class FileChange:
    group: str
    path: str
    text: str
    created: bool


def registered_stacks(repo: Path) -> list[tuple[str, str]]:
    """The repository's registry as written (not the one this program was built with)."""
    return stacks_in((repo / REGISTRY).read_text())


def stacks_in(registry_text: str) -> list[tuple[str, str]]:
    """``UNIFYOPS_STACKS`` of a registry file's text."""
    tree = ast.parse(registry_text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "UNIFYOPS_STACKS" for t in node.targets
        ):
            return [tuple(pair) for pair in ast.literal_eval(node.value)]
    raise InfraError(f"{REGISTRY} has no UNIFYOPS_STACKS")


def _check_name(kind: str, name: str, limit: int) -> None:
    if not _NAME.match(name):
        raise UsageError(
            f"{kind} {name!r} breaks the naming contract: use lowercase letters and digits, "
            "starting with a letter (it becomes a Python package and a DNS label)"
        )
    if len(name) > limit:
        raise UsageError(f"{kind} {name!r} is {len(name)} characters; at most {limit} fit the "
                         "DNS labels derived from it")  # fmt: skip
    if name in RESERVED or keyword.iskeyword(name):
        raise UsageError(f"{kind} {name!r} is a reserved name ({', '.join(sorted(RESERVED))})")


def parse(spec: str, repo: Path) -> NewStack:
    domain, slash, stack = spec.partition("/")
    if not slash or not domain or not stack or "/" in stack:
        raise UsageError(f"expected <domain>/<name>, e.g. platform/billing (got {spec!r})")
    _check_name("domain", domain, MAX_DOMAIN_LENGTH)
    _check_name("stack", stack, MAX_STACK_LENGTH)
    existing = registered_stacks(repo)
    if any(stack == name for _, name in existing):
        raise UsageError(f"stack {stack!r} already exists (in {REGISTRY})")
    if (repo / "src/python/unifyops" / domain / stack).exists():
        raise UsageError(f"src/python/unifyops/{domain}/{stack} already exists")
    return NewStack(domain, stack)


def core_requirement(repo: Path) -> str:
    """`>=X.Y.Z,<X.(Y+1)`: the core this checkout has, up to its next minor version."""
    match = re.search(
        r'__version__ = "(\d+)\.(\d+)\.(\d+)"', (repo / CORE_VERSION_FILE).read_text()
    )
    if not match:
        raise InfraError(f"{CORE_VERSION_FILE} holds no X.Y.Z __version__")
    major, minor, patch = match.groups()
    return f">={major}.{minor}.{patch},<{major}.{int(minor) + 1}"


def _template_files(root: Traversable, prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        path = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from _template_files(entry, path + "/")
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            path = path.removesuffix(TEMPLATE_SUFFIX)
            if path.endswith(BUILD_TEMPLATE):
                path = path.removesuffix(BUILD_TEMPLATE) + "BUILD"
            yield path, entry.read_text()


def _fill(text: str, substitutions: dict[str, str]) -> str:
    for token, value in substitutions.items():
        text = text.replace(token, value)
    return text


def _group(path: str) -> str:
    if path.startswith("src/web/"):
        return "app"
    if "/migrations/" in path:
        return "migrations"
    if path.endswith("_test.py") or path.endswith("conftest.py"):
        return "tests"
    return "python"


def plan(new: NewStack, repo: Path) -> list[FileChange]:
    """Every file the new stack adds: the template, then an infra file per environment."""
    subs = new.substitutions(repo)
    changes = [
        FileChange(_group(path), _fill(path, subs), _fill(text, subs), True)
        for path, text in _template_files(resources.files("uo") / "templates" / "stack")
    ]
    for env in ENVIRONMENTS:
        path = f"infra/environments/{env}/{new.stack}.yaml"
        changes.append(FileChange("infra", path, infra_file(repo, new, env), True))
    for change in changes:
        if (repo / change.path).exists():
            raise UsageError(f"{change.path} already exists; remove it or pick another name")
    return changes


def infra_file(repo: Path, new: NewStack, env: str) -> str:
    """The stack's desired state in ``env`` before its first release: no image for its tiers (the
    chart, hence `uo render`, `uo up --env` and Argo CD, refuses the file until `uo bump` writes
    ``tiers``), and the shared database image as the first registered stack pins it there."""
    reference = registered_stacks(repo)[0][1]
    path = repo / "infra/environments" / env / f"{reference}.yaml"
    try:
        model = yaml.safe_load(path.read_text())
        database = model["database"]["internal"]
        pins = {
            key: database["image"][key] for key in ("tag", "digest") if key in database["image"]
        }
        core, namespace = model["coreVersion"], model["namespace"]
        storage = database.get("storage", "1Gi")
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise InfraError(
            f"cannot read the database image of {path.relative_to(repo)}: {exc}"
        ) from exc
    image = "".join(f"      {key}: {json.dumps(value)}\n" for key, value in pins.items())
    return (
        f"# Desired state of the {new.stack} stack in {env}. The release loop rewrites the image "
        "tags, digests\n# and coreVersion (one commit per release; rollback = git revert); the "
        "rest is edited by hand.\n"
        "# Written by `uo new stack`: no tiers are released yet, so the chart refuses this file "
        "until the\n# first `uo bump` writes them (the database image is the shared one).\n"
        f"stack: {new.stack}\nenvironment: {env}\nnamespace: {namespace}\n"
        f'coreVersion: "{core}"\n'
        f"database:\n  credentialsSecret: {new.stack}-db-credentials\n  internal:\n"
        f"    image:\n{image}    storage: {storage}\n"
    )


# ---- wiring: the registry, and the lists that cannot read it ----------------------------------

Edit = Callable[[str, NewStack], str]


def _edit_registry(text: str, new: NewStack) -> str:
    match = re.search(r"^UNIFYOPS_STACKS = \(\n(?:    .*\n)*?\)\n", text, re.MULTILINE)
    if not match:
        raise InfraError(f"{REGISTRY}: UNIFYOPS_STACKS is not a one-pair-per-line tuple")
    entry = f'    ("{new.domain}", "{new.stack}"),\n'
    return text[: match.end() - 2] + entry + text[match.end() - 2 :]


def _edit_auth_clients(text: str, new: NewStack) -> str:
    edited, count = re.subn(
        r"^(\s+clients: \[)([^\]]*)\]", rf"\1\2, {new.stack}]", text, count=1, flags=re.MULTILINE
    )
    if count != 1:
        raise InfraError("auth.clients is not a one-line [a, b, ...] list")
    return edited


def _edit_workspaces(text: str, new: NewStack) -> str:
    package = json.loads(text)
    package["workspaces"].append(f"{new.stack}_app")
    return json.dumps(package, indent=2) + "\n"


def _edit_tsconfig(text: str, new: NewStack) -> str:
    edited, count = re.subn(
        r'("include": \[[^\]]*)(, "vitest\.config\.ts"\])', rf'\1, "{new.stack}_app/src"\2', text
    )
    if count != 1:
        raise InfraError('"include" does not end with "vitest.config.ts"')
    return edited


def _edit_lockfile(text: str, new: NewStack) -> str:
    lock = json.loads(text)
    packages = lock["packages"]
    packages[f"node_modules/@unifyops/{new.stack}-app"] = {
        "resolved": f"{new.stack}_app",
        "link": True,
    }
    packages[f"{new.stack}_app"] = {
        "name": f"@unifyops/{new.stack}-app",
        "version": "0.1.0",
        "dependencies": {"@unifyops/shared": "0.1.0"},
    }
    packages[""]["workspaces"].append(f"{new.stack}_app")
    # npm writes the root package first, then the others sorted by path.
    lock["packages"] = {k: packages[k] for k in ["", *sorted(k for k in packages if k)]}
    return json.dumps(lock, indent=2) + "\n"


def _edit_literal(text: str, new: NewStack) -> str:
    match = re.search(r"^StackName = Literal\[([^\]]*)\]$", text, re.MULTILINE)
    if not match:
        raise InfraError("StackName is not a one-line Literal[...]")
    names = [*ast.literal_eval(f"[{match.group(1)}]"), new.stack]
    line = _wrapped("StackName = Literal[", [json.dumps(n) for n in names], "]", "")
    return text[: match.start()] + line + text[match.end() :]


def _wrapped(head: str, items: list[str], tail: str, indent: str) -> str:
    """``head a, b tail`` as ruff format writes it: one line if it fits, else one item a line."""
    line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(line) <= 100:
        return line
    inner = "".join(f"{indent}    {item},\n" for item in items)
    return f"{indent}{head}\n{inner}{indent}{tail}"


def _import(module: str, names: str) -> str:
    line = f"from {module} import {names}"
    return line if len(line) <= 100 else f"from {module} import (\n    {names},\n)"


def _add_imports(text: str, lines: list[str]) -> str:
    """Adds ``from unifyops.…`` imports where isort puts them (sorted among their kind)."""
    existing = re.findall(r"^from unifyops\.[^\n]*(?:\n    [^\n]*)*(?:\n\))?$", text, re.MULTILINE)
    if not existing:
        raise InfraError("no `from unifyops.` import to add the new stack's next to")
    block = sorted([*existing, *lines], key=lambda s: s.split(" import ")[0])
    start = text.index(existing[0])
    end = text.index(existing[-1]) + len(existing[-1])
    return text[:start] + "\n".join(block) + text[end:]


def _edit_core_pins(text: str, new: NewStack) -> str:
    d, s = new.domain, new.stack
    text = _add_imports(text, [_import(f"unifyops.{d}.{s}", f"{s}_api, {s}_service")])
    match = re.search(r"^SERVICES = \[([^\]]*)\]$", text, re.MULTILINE)
    if not match:
        raise InfraError("no `SERVICES = [...]` list")
    names = [n.strip() for n in match.group(1).split(",") if n.strip()] + [
        f"{s}_api",
        f"{s}_service",
    ]
    return text[: match.start()] + _wrapped("SERVICES = [", names, "]", "") + text[match.end() :]


def _edit_harness(text: str, new: NewStack) -> str:
    d, s = new.domain, new.stack
    imports = [
        _import(f"unifyops.{d}.{s}.{s}_{tier}", f"{kind} as {s}_{tier}{suffix}")
        for tier in ("api", "service")
        for kind, suffix in (("config", "_config"), ("main", ""))
    ]
    text = _add_imports(text, imports)
    match = re.search(r"^TIERS: .*= \{\n(?:    .*\n)*?\}\n", text, re.MULTILINE)
    if not match:
        raise InfraError("no `TIERS: ... = {` dict")
    rows = [
        _wrapped(
            f'"{tier}": (',
            [f"{s}_{tier}_config.Settings", f"{s}_{tier}.create_app", f"{s}_{tier}.main"],
            "),",
            "        ",
        )
        for tier in ("service", "api")
    ]
    entry = f'    "{s}": {{\n' + "\n".join(rows) + "\n    },\n"
    return text[: match.end() - 2] + entry + text[match.end() - 2 :]


def _edit_traffic(text: str, new: NewStack) -> str:
    block = r"^        targets = \{\n(?:            .*\n)*?        \}\n"
    match = re.search(block, text, re.MULTILINE)
    if not match:
        raise InfraError("no `targets = {` dict in Traffic.targets")
    items = [f'r.url("{new.stack}-api", "/v1/items")', "bearer(self.member_token)"]
    entry = _wrapped(f'"{new.stack}": (', items, "),", "            ") + "\n"
    end = match.end() - len("        }\n")
    return text[:end] + entry + text[end:]


ENVIRONMENT_SCHEMAS = "src/python/unifyops/platform/environment/environment_service/schemas.py"
WIRING: tuple[tuple[str, str, Edit], ...] = (
    ("registry", REGISTRY, _edit_registry),
    *(("auth", f"infra/environments/{env}/auth.yaml", _edit_auth_clients) for env in ENVIRONMENTS),
    ("app", "src/web/package.json", _edit_workspaces),
    ("app", "src/web/package-lock.json", _edit_lockfile),
    ("app", "src/web/tsconfig.json", _edit_tsconfig),
    ("environment stack", ENVIRONMENT_SCHEMAS, _edit_literal),
    ("tests", "tests/release/core_pins_test.py", _edit_core_pins),
    ("tests", "tests/integration/platform_harness.py", _edit_harness),
    ("tests", "tests/faults/traffic.py", _edit_traffic),
)


def wiring(new: NewStack, repo: Path) -> list[FileChange]:
    changes = []
    for group, path, edit in WIRING:
        try:
            text = (repo / path).read_text()
        except OSError as exc:
            raise InfraError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            changes.append(FileChange(group, path, edit(text, new), False))
        except InfraError as exc:
            raise InfraError(f"{path}: {exc}; edit it by hand (docs/stacks.md)") from exc
    return changes


def write(repo: Path, changes: list[FileChange]) -> None:
    for change in changes:
        target = repo / change.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(change.text)


def child_path(repo: Path) -> str:
    """The repository's code first, then what this program runs on (its third-party packages,
    wherever a pex or a virtualenv keeps them)."""
    return os.pathsep.join([str(repo / "src/python"), *(p for p in sys.path if p)])


__all__ = [
    "MAX_STACK_LENGTH",
    "REGISTRY",
    "RESERVED",
    "WIRING",
    "FileChange",
    "NewStack",
    "child_path",
    "core_requirement",
    "parse",
    "plan",
    "registered_stacks",
    "stacks_in",
    "wiring",
    "write",
]
