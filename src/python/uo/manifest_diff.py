"""What a change does to the cluster: every (environment, stack) rendered at a base commit and in
the working tree, compared object by object — what Argo CD would apply, for a reviewer.

Each side renders with its own infra/ and the chart each environment pins there, found in the
repository's history (uo.pinned_chart), as `uo render` does for one tree: a promotion that moves
an environment's pin shows what the newer chart changes, and a chart change no pin names yet
shows nothing (``chart=TREE``: each side's own chart, to preview it). Objects are
matched by kind, namespace and name; a changed one is shown as a unified diff of its YAML. The
values of Secrets are never shown, on either side: only which keys were added, removed or
changed.
"""

from __future__ import annotations

import difflib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from uo.errors import GitRefError, InfraError
from uo.pinned_chart import PINNED, PinnedCharts, require_stack
from uo.render import Manifest, Target, render_target, targets
from uo.repo import CHART_PATH, ENVIRONMENTS_PATH

HIDDEN = "(hidden)"
CHANGED = "(hidden, changed)"


@dataclass
class TargetDiff:
    """The changes of one (environment, stack); ``error``: a side that does not render."""

    target: Target
    hunks: list[str] = field(default_factory=list)  # one unified diff per changed object
    added: int = 0
    removed: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.target.environment}/{self.target.stack}"


@contextmanager
def tree_at(repo: Path, ref: str) -> Iterator[Path]:
    """infra/ and the chart as they were at ``ref``, in a temporary folder."""
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "--", ENVIRONMENTS_PATH, CHART_PATH],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip().splitlines()
        raise GitRefError(
            f"cannot read infra/ and the chart at {ref!r}: {detail[-1] if detail else exc}"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="uo-diff-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def _key(manifest: Manifest) -> tuple[str, str, str]:
    metadata = manifest.get("metadata") or {}
    return (
        str(manifest.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


def _hide_secret_values(old: Manifest | None, new: Manifest | None) -> tuple[Any, Any]:
    """Copies of a Secret pair whose values say only whether they changed."""

    def values(manifest: Manifest | None) -> dict[str, Any]:
        if manifest is None:
            return {}
        return {**(manifest.get("data") or {}), **(manifest.get("stringData") or {})}

    before, after = values(old), values(new)

    def hidden(manifest: Manifest | None, mine: dict[str, Any], base: dict[str, Any]) -> Any:
        """The values replaced; on the head side, a value the base had otherwise is marked."""
        if manifest is None:
            return None
        copy = {k: v for k, v in manifest.items() if k not in ("data", "stringData")}
        if mine:
            copy["data"] = {
                key: CHANGED if key in base and base[key] != value else HIDDEN
                for key, value in sorted(mine.items())
            }
        return copy

    return hidden(old, before, before), hidden(new, after, before)


def _text(manifest: Any) -> list[str]:
    if manifest is None:
        return []
    return yaml.safe_dump(manifest, sort_keys=False).splitlines(keepends=True)


def _render(repo: Path, target: Target, charts: PinnedCharts, chart: str) -> list[Manifest]:
    if not (repo / ENVIRONMENTS_PATH / target.environment / f"{target.stack}.yaml").exists():
        return []  # the stack is not in this environment on this side
    source = charts.chart_for(repo, target.environment, chart)
    require_stack(source, target.environment, target.stack)
    return render_target(repo, target, chart_dir=source.path)


def compare(
    base: Path, head: Path, target: Target, charts: PinnedCharts, chart: str = PINNED
) -> TargetDiff:
    found = TargetDiff(target)
    sides: list[list[Manifest]] = []
    for side, tree in (("base", base), ("head", head)):
        try:
            sides.append(_render(tree, target, charts, chart))
        except InfraError as exc:  # RenderError, or a chart pin that does not read
            found.errors.append(f"{side} does not render: {exc}")
            sides.append([])
    if found.errors:
        return found
    old = {_key(m): m for m in sides[0]}
    new = {_key(m): m for m in sides[1]}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key[0] == "Secret":
            before, after = _hide_secret_values(before, after)
        name = f"{target.environment}/{target.stack}/{key[0]}/{key[2]}"
        hunk = "".join(
            difflib.unified_diff(
                _text(before),
                _text(after),
                fromfile=f"a/{name}" if before is not None else "/dev/null",
                tofile=f"b/{name}" if after is not None else "/dev/null",
            )
        )
        if not hunk:
            continue  # a Secret whose hidden form did not change: nothing to show
        found.hunks.append(hunk)
        if before is None:
            found.added += 1
        elif after is None:
            found.removed += 1
        else:
            found.changed += 1
    return found


def manifest_diff(
    repo: Path,
    since: str,
    environments: list[str] | None = None,
    stacks: list[str] | None = None,
    chart: str = PINNED,
) -> list[TargetDiff]:
    """The differing (environment, stack) pairs between ``since`` and the working tree."""
    with tree_at(repo, since) as base, PinnedCharts(repo) as charts:
        chosen = {
            (t.environment, t.stack): t
            for tree in (base, repo)
            for t in targets(tree, environments, stacks)
        }
        found = [compare(base, repo, target, charts, chart) for _, target in sorted(chosen.items())]
    return [diff for diff in found if diff.hunks or diff.errors]


def summary(diffs: list[TargetDiff]) -> str:
    added = sum(d.added for d in diffs)
    removed = sum(d.removed for d in diffs)
    changed = sum(d.changed for d in diffs)
    broken = sum(1 for d in diffs if d.errors)
    text = (
        f"{changed} changed, {added} added, {removed} removed objects "
        f"in {len(diffs)} environment/stack pairs"
    )
    return text + (f"; {broken} do not render" if broken else "")


def as_text(diffs: list[TargetDiff], since: str) -> str:
    if not diffs:
        return f"no manifest changes since {since}\n"
    lines = []
    for diff in diffs:
        lines.append(f"# --- {diff.label}")
        lines.extend(f"error: {error}" for error in diff.errors)
        lines.extend(hunk.rstrip("\n") for hunk in diff.hunks)
    lines.append(summary(diffs))
    return "\n".join(lines) + "\n"


def as_markdown(diffs: list[TargetDiff], since: str, max_lines: int = 400) -> str:
    """For a job summary: one section per pair, each diff cut at ``max_lines`` lines."""
    title = f"### Manifest changes since `{since}` (what Argo CD would apply)\n\n"
    if not diffs:
        return title + "No rendered object changes.\n"
    parts = [title, f"{summary(diffs)}\n\n"]
    for diff in diffs:
        parts.append(f"#### {diff.label}\n\n")
        parts.extend(f"**Error**: {error}\n\n" for error in diff.errors)
        if diff.hunks:
            lines = "".join(diff.hunks).splitlines()
            cut = len(lines) - max_lines
            shown = "\n".join(lines[:max_lines])
            parts.append(f"```diff\n{shown}\n```\n")
            if cut > 0:
                parts.append(f"\n({cut} more lines: run `./uo diff --since {since}`)\n")
            parts.append("\n")
    return "".join(parts)


__all__ = ["TargetDiff", "as_markdown", "as_text", "compare", "manifest_diff", "summary"]
