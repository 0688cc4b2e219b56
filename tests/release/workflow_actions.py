"""The local stand-ins for the ``uses:`` actions the workflow runner (workflow_runner.py) knows,
listed in :data:`ACTIONS`; any other action is an error there. Each takes the job it runs in and
its ``with:`` inputs (expressions already substituted) and returns its log line."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release.workflow_runner import JobContext


class ActionError(RuntimeError):
    """An action's stand-in failed (the step fails, as the action would on GitHub)."""


def _git(context: JobContext, *args: str, cwd: Path) -> str:
    """git as the account the job's steps run as (the files it writes are theirs)."""
    options = context.runner.process_options()
    environ = {**context.runner.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=environ, **options
    )
    return str(done.stdout).strip()


def checkout(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/checkout: the event's commit, ``fetch-depth`` commits deep (1 by default, 0: all
    history and tags), on the pushed branch tracking ``origin`` (the runner's repository)."""
    runner = context.runner
    target = context.workspace / inputs.get("path", "")
    target.mkdir(parents=True, exist_ok=True)
    runner.own(target)
    depth = int(inputs.get("fetch-depth", "1") or "1")
    sha = inputs.get("ref") or runner.event.sha
    branch = runner.event.ref.removeprefix("refs/heads/") if runner.event.name == "push" else ""
    _git(context, "init", "-q", cwd=target)
    _git(context, "remote", "add", "origin", f"file://{runner.repository}", cwd=target)
    if depth == 0:
        _git(
            context,
            "fetch",
            "-q",
            "--tags",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            cwd=target,
        )
    else:
        remote_ref = f"refs/remotes/origin/{branch}" if branch else "refs/remotes/origin/checkout"
        _git(
            context, "fetch", "-q", f"--depth={depth}", "origin", f"+{sha}:{remote_ref}", cwd=target
        )
    if branch:
        _git(context, "checkout", "-q", "-B", branch, sha, cwd=target)
        _git(context, "branch", "-q", f"--set-upstream-to=origin/{branch}", cwd=target)
    else:
        _git(context, "checkout", "-q", "--detach", sha, cwd=target)
    commits = _git(context, "rev-list", "--count", "HEAD", cwd=target)
    return f"checked out {sha[:12]} ({branch or 'detached'}, {commits} commit(s) of history)"


def upload_artifact(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/upload-artifact@v4: the files ``path`` names (globs, one per line) under the
    artifact ``name``, relative to their deepest common directory; names are immutable."""
    name = inputs.get("name") or "artifact"
    store = context.runner.artifacts / name
    if store.exists():
        raise ActionError(f"an artifact named {name!r} exists already (v4 names are unique)")
    files: list[Path] = []
    for pattern in filter(None, (p.strip() for p in inputs.get("path", "").splitlines())):
        matched = sorted(context.workspace.glob(pattern)) if pattern else []
        for path in matched:
            files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        if inputs.get("if-no-files-found", "warn") == "error":
            raise ActionError(f"no files found for {inputs.get('path')!r}")
        return f"warning: no files found for {inputs.get('path')!r}; nothing uploaded"
    root = Path(os.path.commonpath([f.parent for f in files]))
    for path in files:
        (store / path.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, store / path.relative_to(root))
    return f"artifact {name}: {len(files)} file(s)"


def download_artifact(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/download-artifact@v4: one artifact by ``name`` into ``path``, or all (or those
    matching ``pattern``), each into ``path/<name>/`` unless ``merge-multiple``."""
    target = context.workspace / inputs.get("path", "")
    available = (
        sorted(p.name for p in context.runner.artifacts.glob("*"))
        if (context.runner.artifacts.is_dir())
        else []
    )
    if inputs.get("name"):
        if inputs["name"] not in available:
            raise ActionError(f"no artifact named {inputs['name']!r} (there are: {available})")
        chosen, merge = [inputs["name"]], True
    else:
        pattern = inputs.get("pattern") or "*"
        chosen = [name for name in available if fnmatch.fnmatchcase(name, pattern)]
        merge = inputs.get("merge-multiple", "false") == "true"
    for name in chosen:
        shutil.copytree(
            context.runner.artifacts / name, target if merge else target / name, dirs_exist_ok=True
        )
    if chosen:
        context.runner.own(target)
    return f"downloaded {len(chosen)} artifact(s): {', '.join(chosen) or 'none'}"


def setup_python(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/setup-python: each asked-for version from the runner's tool cache
    (``<tool cache>/Python/<version>/x64``, as on GitHub's runner), its ``bin`` put first on
    PATH for the later steps (the last version listed wins ``python``), ``pythonLocation`` set.
    Without a tool cache (the runner's unit tests) nothing is installed: the machine's own
    interpreters on PATH are named."""
    runner = context.runner
    versions = inputs.get("python-version", "").split()
    if runner.tool_cache is None:
        path = runner.environ.get("PATH")
        found = [
            f"python{v}: {shutil.which(f'python{v}', path=path) or 'NOT FOUND'}" for v in versions
        ]
        return f"no-op: the interpreters are this machine's ({'; '.join(found) or 'none asked'})"
    lines = []
    for version in versions:
        home = python_in_tool_cache(runner.tool_cache, version)
        context.path_entries.append(str(home / "bin"))
        context.exported_env["pythonLocation"] = str(home)
        lines.append(f"python{version}: {home}")
    return "from the tool cache: " + "; ".join(lines)


def python_in_tool_cache(tool_cache: Path, version: str) -> Path:
    """CPython ``version`` (``3.9``) in the tool cache, added once from this machine's own
    interpreter of that version (where setup-python would download a build): its prefix without
    site-packages, made relocatable (libpython found relative to the binary, like GitHub's
    builds), readable by every account. Returns the install's directory."""
    installed = sorted(tool_cache.glob(f"Python/{version}.*/x64.complete"))
    if installed:
        return installed[-1].with_suffix("")
    prefix, full = _machine_python(version)
    target = tool_cache / "Python" / full / "x64"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(prefix, target, symlinks=True, ignore=_site_packages_contents)
    for binary in (target / "bin").iterdir():
        if _is_elf(binary) and _has_runpath(binary):
            _run(["patchelf", "--set-rpath", "$ORIGIN/../lib", str(binary)])
    _run(["chmod", "-R", "a+rX", str(tool_cache)])
    _run([str(target / "bin" / f"python{version}"), "-c", "import ssl, sqlite3, venv"])
    (target.parent / "x64.complete").write_text("")
    return target


def _machine_python(version: str) -> tuple[str, str]:
    """(prefix, full version) of this machine's CPython ``version``: on PATH, else a pyenv one
    (pyenv's shims answer only for the versions pyenv selects)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [shutil.which(f"python{version}")]
    candidates += [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    ]
    probe = "import sys; print(sys.base_prefix); print('.'.join(map(str, sys.version_info[:3])))"
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", probe], capture_output=True, text=True)
        if done.returncode == 0:
            prefix, full = done.stdout.split()
            return prefix, full
    raise ActionError(f"no python{version} on this machine to put in the tool cache")


def _site_packages_contents(directory: str, names: list[str]) -> list[str]:
    return names if Path(directory).name == "site-packages" else []


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as head:
        return head.read(4) == b"\x7fELF"


def _has_runpath(binary: Path) -> bool:
    return bool(_run(["patchelf", "--print-rpath", str(binary)]).strip())


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ActionError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout.strip()


def cache(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/cache: nothing saved or restored; the machine's own caches persist anyway."""
    return f"no-op: no cache service here; {inputs.get('path', '').split()} stay on this machine"


Action = Callable[["JobContext", dict[str, Any]], str]
ACTIONS: dict[str, Action] = {
    "actions/cache": cache,
    "actions/checkout": checkout,
    "actions/download-artifact": download_artifact,
    "actions/setup-python": setup_python,
    "actions/upload-artifact": upload_artifact,
}


__all__ = [
    "ACTIONS",
    "Action",
    "ActionError",
    "cache",
    "checkout",
    "download_artifact",
    "setup_python",
    "upload_artifact",
]
