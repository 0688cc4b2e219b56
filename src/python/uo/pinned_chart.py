"""The chart an environment runs, for rendering it as Argo CD does.

Argo CD renders an environment with the chart its infra/environments/<env>/chart.yaml pins (a
version and the digest of its contents, pulled from the registry), not with the chart in the
tree: prod may run 0.2.0 while main holds 0.2.8. Packaging is reproducible (uo.charts), so the
pinned chart's sources are found without a registry: the tree's chart when it packages to the
pinned digest, else the newest commit of the whole history (every ref, merged-away sides
included) whose chart does. A pin no commit packages to is an error naming the candidates, never
a silent fall back to the tree.

Cost: one `git log` and two `git cat-file` processes per search, whatever the history's length;
each distinct chart folder (by git tree id) of the pinned version is archived and packaged once.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import yaml

from uo.charts import Package, package, pin_path, read_pin
from uo.errors import InfraError, RenderError
from uo.repo import CHART_PATH

PINNED, TREE = "pinned", "tree"  # the two ways to choose a chart (`uo render/diff --chart`)
_NO_HISTORY = "; --chart tree renders with the working tree's chart instead"


@dataclass(frozen=True)
class ChartSource:
    path: Path  # the chart's folder
    version: str
    origin: str  # "the working tree", "commit 1a2b3c4d5e6f"

    def describe(self) -> str:
        return f"chart {self.version} from {self.origin}"


@dataclass(frozen=True)
class _Candidate:
    commit: str  # the newest commit whose chart folder is this tree
    tree: str  # the chart folder's git tree id


class PinnedCharts:
    """Finds the chart each environment pins. A context manager: the charts taken from history
    live in a scratch folder until it exits."""

    def __init__(self, history: Path) -> None:
        self.history = history  # the git repository searched for pinned charts
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._packaged: dict[Path, Package | InfraError] = {}
        self._found: dict[tuple[str, str], ChartSource | None] = {}  # (version, digest)
        self._versions: dict[str, list[_Candidate]] | None = None  # version → candidates

    def __enter__(self) -> PinnedCharts:
        self._scratch = tempfile.TemporaryDirectory(prefix="uo-charts-")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()

    def chart_for(self, tree: Path, environment: str, choice: str = PINNED) -> ChartSource:
        """The chart to render ``environment`` of ``tree`` (a checkout, or infra/ and the chart
        at some commit) with: the one it pins, or with ``choice`` TREE the tree's own."""
        own = tree / CHART_PATH
        if choice == TREE or not pin_path(tree, environment).is_file():
            packaged = self._package(own)
            if isinstance(packaged, InfraError):
                raise packaged
            return ChartSource(own, packaged.version, "the working tree")
        pin = read_pin(tree, environment)
        if pin.digest is None:
            raise RenderError(
                f"{environment} pins chart {pin.version} without a digest: which contents it "
                "runs is unknown (uo chart bump records both)"
            )
        packaged = self._package(own)
        if isinstance(packaged, Package) and packaged.digest == pin.digest:
            if packaged.version != pin.version:
                # Argo CD pulls the version; the digest says which contents that must be.
                raise RenderError(
                    f"{environment} pins chart {pin.version} with the digest of chart "
                    f"{packaged.version} (the working tree's): the pin contradicts itself "
                    "(uo chart bump writes both)"
                )
            return ChartSource(own, pin.version, "the working tree")
        key = (pin.version, pin.digest)
        if key not in self._found:
            self._found[key] = self._search(pin.version, pin.digest)
        found = self._found[key]
        if found is None:
            raise RenderError(self._not_found(environment, pin.version, pin.digest, packaged))
        return found

    def _package(self, chart: Path) -> Package | InfraError:
        """The chart packaged, or why it does not package (a broken or half-edited chart)."""
        if chart not in self._packaged:
            try:
                self._packaged[chart] = package(chart)
            except InfraError as exc:
                self._packaged[chart] = exc
            except OSError as exc:  # a link out of the folder, an unreadable file
                self._packaged[chart] = InfraError(f"{chart.name}: cannot be read ({exc})")
        return self._packaged[chart]

    def _git(self, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            done = subprocess.run(
                ["git", *args], cwd=self.history, input=stdin, capture_output=True, check=False
            )
        except OSError as exc:
            raise RenderError(
                f"git cannot be run ({exc}), and the pinned chart is found in the repository's "
                "history" + _NO_HISTORY
            ) from exc
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            raise RenderError(
                f"cannot read the history of {self.history} "
                f"({detail[-1] if detail else f'git {args[0]} failed'})" + _NO_HISTORY
            )
        return done.stdout

    def _candidates(self, version: str) -> list[_Candidate]:
        """The distinct chart folders of the history whose Chart.yaml declares ``version``,
        newest first."""
        if self._versions is None:
            self._versions = self._chart_versions()
        return self._versions.get(version, [])

    def _chart_versions(self) -> dict[str, list[_Candidate]]:
        commits = self._git(
            "log", "--all", "--full-history", "--format=%H", "--", CHART_PATH
        ).split()
        # The chart folder's tree id at each commit, in one process; a folder seen at a newer
        # commit already is the same chart.
        folders = self._git(
            "cat-file",
            "--batch-check",
            stdin=b"".join(c + b":" + CHART_PATH.encode() + b"\n" for c in commits),
        ).splitlines()
        seen: dict[str, str] = {}
        for commit, line in zip(commits, folders, strict=True):
            oid, _, kind = line.decode().partition(" ")
            if kind.startswith("tree ") and oid not in seen:
                seen[oid] = commit.decode()
        versions: dict[str, list[_Candidate]] = {}
        for tree, declared in zip(seen, self._declared_versions(list(seen)), strict=True):
            if declared is not None:
                versions.setdefault(declared, []).append(_Candidate(seen[tree], tree))
        return versions

    def _declared_versions(self, trees: list[str]) -> list[str | None]:
        """The version each chart folder's Chart.yaml declares (None: none readable), read in one
        `git cat-file --batch`."""
        out = io.BytesIO(
            self._git(
                "cat-file", "--batch", stdin=b"".join(f"{t}:Chart.yaml\n".encode() for t in trees)
            )
        )
        declared: list[str | None] = []
        for _ in trees:
            header = out.readline().split()
            if len(header) != 3:  # "<name> missing"
                declared.append(None)
                continue
            body = out.read(int(header[2]))
            out.readline()  # the newline after each object
            try:
                document = yaml.safe_load(body)
            except yaml.YAMLError:
                document = None
            version = document.get("version") if isinstance(document, dict) else None
            declared.append(str(version) if version is not None else None)
        return declared

    def _checkout(self, candidate: _Candidate) -> Path | None:
        """The candidate's chart folder in the scratch folder (None: it cannot be extracted)."""
        assert self._scratch is not None, "use PinnedCharts as a context manager"
        folder = Path(self._scratch.name) / candidate.tree / Path(CHART_PATH).name
        if folder.is_dir():
            return folder
        archive = self._git("archive", "--format=tar", candidate.tree)
        try:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(folder, filter="data")
        except (tarfile.TarError, OSError):  # e.g. a link pointing out of the folder
            return None
        return folder

    def _packaged_candidate(self, candidate: _Candidate) -> tuple[Path, Package | InfraError]:
        chart = self._checkout(candidate)
        if chart is None:
            return Path(candidate.tree), InfraError("its files cannot be extracted")
        return chart, self._package(chart)

    def _search(self, version: str, digest: str) -> ChartSource | None:
        for candidate in self._candidates(version):
            chart, packaged = self._packaged_candidate(candidate)
            if isinstance(packaged, Package) and packaged.digest == digest:
                return ChartSource(chart, version, f"commit {candidate.commit[:12]}")
        return None

    def _not_found(
        self, environment: str, version: str, digest: str, own: Package | InfraError
    ) -> str:
        described = []
        for candidate in self._candidates(version):
            _, packaged = self._packaged_candidate(candidate)
            described.append(
                f"{candidate.commit[:12]} packages to {packaged.digest[:19]}…"
                if isinstance(packaged, Package)
                else f"{candidate.commit[:12]} does not package"
            )
        shallow = self._git("rev-parse", "--is-shallow-repository").strip() == b"true"
        return (
            f"{environment} pins chart {version} ({digest[:19]}…), and no commit of this "
            "repository packages to it"
            + (f" (commits with that version: {'; '.join(described)})" if described else "")
            + (
                f" (the working tree's chart does not package: {own})"
                if isinstance(own, InfraError)
                else ""
            )
            + (": this clone is shallow, fetch the whole history" if shallow else "")
            + _NO_HISTORY
        )


def require_stack(chart: ChartSource, environment: str, stack: str) -> None:
    """Charts before 0.2.8 list the stacks they accept (an enum in values.schema.json): for a
    stack such a chart predates, say what to do instead of Helm's schema error."""
    try:
        schema = json.loads((chart.path / "values.schema.json").read_text())
        allowed = schema["properties"]["stack"].get("enum")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # no such list: the chart itself judges the values
    if isinstance(allowed, list) and stack not in allowed:
        raise RenderError(
            f"{environment} runs {chart.describe()}, which predates stack {stack} (it accepts "
            f"only {', '.join(map(str, allowed))}): pin a newer chart there first (uo chart bump "
            f"--env {environment} pins the tree's, once published; uo promote carries another "
            "environment's with its images)"
        )


__all__ = ["PINNED", "TREE", "ChartSource", "PinnedCharts", "require_stack"]
