"""Which images a change affects: Pants' dependency graph, plus what the graph cannot see.

Pants maps changed files to their targets and those to their transitive dependents. By itself it
would treat any lockfile change as a change to every Python image and knows nothing of the base
images or of the image macro; this module adds:
- the lockfile, per requirement: an image is affected when a pin it resolves (directly or through
  another requirement) changed;
- ``pants.toml`` and the build definitions (image macro, base image build): every image;
- a base image's package list: every image built on that base (the target's ``UO_BASE_*_IMAGE``
  build arguments say which);
- a stack's registration (``uo new stack``): appending a stack to the registry, and the web
  workspace's lists naming its app, changes no other image's behaviour, though every image
  carries the registry and every app bundle reads the workspace files. Such an edit (exactly
  the one `uo new stack` makes, uo.new_stack.WIRING) selects nothing by itself; the new stack's
  images are selected by its own files, and the environment stack, the one that lists stacks at
  run time, by its ``StackName`` (held equal to the registry by its schemas test).

Each image comes back as a release unit (uo.units) whose stack and tier the target itself states.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from uo.errors import GitRefError, InfraError
from uo.new_stack import REGISTRY, WIRING, NewStack, stacks_in
from uo.pants_runner import Pants
from uo.units import ImageUnit

LOCKFILE = "3rdparty/python/default.lock"
EVERYTHING = (
    "pants.toml",
    "build-support/pants/",
    "build-support/images/",
    "build-support/bootstrap/versions.sh",
)
BASES = "src/docker/base/"  # src/docker/base/<base>/: the package list of one base image


@dataclass
class AffectedImage:
    unit: ImageUnit
    reasons: set[str] = field(default_factory=set)

    @property
    def address(self) -> str:
        return self.unit.address


def changed_files(repo: Path, since: str) -> list[str]:
    """Files that differ from ``since`` in the working tree (committed or not, untracked too)."""

    def git(*args: str) -> list[str]:
        result = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        )
        return [line for line in result.stdout.splitlines() if line]

    try:
        git("rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
    except subprocess.CalledProcessError as exc:
        raise GitRefError(
            f"{since!r} is not a commit in this repository (try --since HEAD~1)"
        ) from exc
    return sorted(
        set(git("diff", "--name-only", since))
        | set(git("ls-files", "--others", "--exclude-standard"))
    )


def _lock_pins(text: str) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """project -> (version, requirement names it depends on) from a Pants lockfile's text."""
    if not text:
        return {}
    # Imported here: only a lockfile change needs them, and they are a sixth of a warm
    # `uo affected` otherwise.
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    body = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    pins: dict[str, tuple[str, dict[str, list[str]]]] = {}
    for resolve in json.loads(body)["locked_resolves"]:
        for requirement in resolve["locked_requirements"]:
            depends = [
                str(canonicalize_name(Requirement(r).name))
                for r in requirement.get("requires_dists", [])
            ]
            name = str(canonicalize_name(requirement["project_name"]))
            pins[name] = (str(requirement["version"]), {"deps": depends})
    return pins


def changed_pins(old_lock: str, new_lock: str) -> set[str]:
    old, new = _lock_pins(old_lock), _lock_pins(new_lock)
    return {
        name
        for name in old.keys() | new.keys()
        if old.get(name, ("",))[0] != new.get(name, ("",))[0]
    }


def closure(roots: Iterable[str], lock_text: str) -> set[str]:
    """Every project the roots resolve to, through the lock's dependency edges."""
    graph = {name: info["deps"] for name, (_, info) in _lock_pins(lock_text).items()}
    from packaging.utils import canonicalize_name  # see _lock_pins

    seen: set[str] = set()
    stack = [str(canonicalize_name(root)) for root in roots]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(dep for dep in graph.get(name, []) if dep in graph)
    return seen


def old_file(repo: Path, since: str, path: str) -> str:
    result = subprocess.run(
        ["git", "show", f"{since}:{path}"], cwd=repo, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else ""


# The registration edits that no image's behaviour depends on (see the module docstring): the
# registry, and the web workspace's lists (the other apps' bundles come out the same).
REGISTRATION_ONLY = (REGISTRY, "src/web/package.json", "src/web/package-lock.json",
                     "src/web/tsconfig.json")  # fmt: skip


def _same(path: str, a: str, b: str) -> bool:
    if path.endswith(".json"):
        try:
            return bool(json.loads(a) == json.loads(b))
        except ValueError:
            return False
    return a == b


def registrations(repo: Path, since: str, files: list[str]) -> set[str]:
    """The changed files whose whole change is registering stacks appended to the registry."""
    if REGISTRY not in files or not (repo / REGISTRY).is_file():
        return set()
    try:
        old, new = (
            stacks_in(old_file(repo, since, REGISTRY)),
            stacks_in((repo / REGISTRY).read_text()),
        )
    except (InfraError, SyntaxError, ValueError):
        return set()
    if not old or new[: len(old)] != old:
        return set()  # stacks removed or reordered: leave it to the graph
    added = [NewStack(domain, stack) for domain, stack in new[len(old) :]]
    found = set()
    for _, path, edit in WIRING:
        if path not in REGISTRATION_ONLY or path not in files or not (repo / path).is_file():
            continue
        text = old_file(repo, since, path)
        try:
            for stack in added:
                text = edit(text, stack)
        except (InfraError, KeyError, ValueError):
            continue
        if _same(path, text, (repo / path).read_text()):
            found.add(path)
    return found


def affected_images(repo: Path, since: str, pants: Pants | None = None) -> list[AffectedImage]:
    pants = pants or Pants(repo)
    files = changed_files(repo, since)
    registered = registrations(repo, since, files)
    all_images = {unit.address: unit for unit in pants.images()}
    selected: dict[str, AffectedImage] = {}

    def select(address: str, reason: str) -> None:
        selected.setdefault(address, AffectedImage(all_images[address])).reasons.add(reason)

    for path in files:
        if path.startswith(EVERYTHING) or path in EVERYTHING:
            for address in all_images:
                select(address, f"build definition {path}")
        if path.startswith(BASES):
            base = path[len(BASES) :].split("/", 1)[0]
            for unit in all_images.values():
                if base in unit.bases:
                    select(unit.address, f"base image {base}")

    regular = [
        path
        for path in files
        if path != LOCKFILE and path not in registered and (repo / path).exists()
    ]
    for address in sorted(set(pants.affected_by(regular)) & all_images.keys()):
        select(address, "sources or dependencies changed")

    if LOCKFILE in files:
        new_lock = (repo / LOCKFILE).read_text() if (repo / LOCKFILE).exists() else ""
        changed = changed_pins(old_file(repo, since, LOCKFILE), new_lock)
        for address in all_images:
            direct = [
                dep.split("#", 1)[1]
                for dep in pants.dependencies(address)
                if "#" in dep and dep.startswith("3rdparty/")
            ]
            hit = sorted(closure(direct, new_lock) & changed)
            if hit:
                select(address, f"locked requirements changed: {', '.join(hit)}")
    return [selected[address] for address in sorted(selected)]


__all__ = [
    "AffectedImage",
    "GitRefError",
    "affected_images",
    "changed_files",
    "changed_pins",
    "closure",
    "registrations",
]
