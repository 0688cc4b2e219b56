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


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def checkout(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/checkout: the event's commit, ``fetch-depth`` commits deep (1 by default, 0: all
    history and tags), on the pushed branch tracking ``origin`` (the runner's repository)."""
    runner = context.runner
    target = context.workspace / inputs.get("path", "")
    target.mkdir(parents=True, exist_ok=True)
    depth = int(inputs.get("fetch-depth", "1") or "1")
    sha = inputs.get("ref") or runner.event.sha
    branch = runner.event.ref.removeprefix("refs/heads/") if runner.event.name == "push" else ""
    _git("init", "-q", cwd=target)
    _git("remote", "add", "origin", f"file://{runner.repository}", cwd=target)
    if depth == 0:
        _git("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=target)
    else:
        remote_ref = f"refs/remotes/origin/{branch}" if branch else "refs/remotes/origin/checkout"
        _git("fetch", "-q", f"--depth={depth}", "origin", f"+{sha}:{remote_ref}", cwd=target)
    if branch:
        _git("checkout", "-q", "-B", branch, sha, cwd=target)
        _git("branch", "-q", f"--set-upstream-to=origin/{branch}", cwd=target)
    else:
        _git("checkout", "-q", "--detach", sha, cwd=target)
    commits = _git("rev-list", "--count", "HEAD", cwd=target)
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
    return f"downloaded {len(chosen)} artifact(s): {', '.join(chosen) or 'none'}"


def setup_python(context: JobContext, inputs: dict[str, Any]) -> str:
    """actions/setup-python: nothing installed; says which asked-for interpreters this machine
    has on PATH (the steps use those)."""
    path = context.runner.environ.get("PATH")
    found = [
        f"python{version}: {shutil.which(f'python{version}', path=path) or 'NOT FOUND'}"
        for version in inputs.get("python-version", "").split()
    ]
    return f"no-op: the interpreters are this machine's ({'; '.join(found) or 'none asked'})"


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
