"""The chart an environment runs, for rendering it as Argo CD does.

Argo CD renders an environment with the chart its infra/environments/<env>/chart.yaml pins (a
version and the digest of its contents, pulled from the registry), not with the chart in the
tree: prod may run 0.2.0 while main holds 0.2.7. Packaging is reproducible (uo.charts), so the
pinned chart's sources are found without a registry: the working tree's chart when it packages to
the pinned digest, else the newest commit of the history (any branch) whose chart does. A pin no
commit packages to is an error naming the candidates, never a silent fall back to the tree.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import yaml

from uo.charts import Package, package, pin_path, read_pin
from uo.errors import RenderError
from uo.repo import CHART_PATH

PINNED, TREE = "pinned", "tree"  # the two ways to choose a chart (`uo render/diff --chart`)


@dataclass(frozen=True)
class ChartSource:
    path: Path  # the chart's folder
    version: str
    origin: str  # "the working tree", "commit 1a2b3c4d5e6f"

    def describe(self) -> str:
        return f"chart {self.version} from {self.origin}"


class PinnedCharts:
    """Finds the chart each environment pins; each commit's chart is read and packaged at most
    once. A context manager: the charts taken from history live in a scratch folder."""

    def __init__(self, history: Path) -> None:
        self.history = history  # the git repository searched for pinned charts
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._packaged: dict[Path, Package] = {}
        self._from_history: dict[str, ChartSource] = {}  # by digest

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
            return ChartSource(own, self._package(own).version, "the working tree")
        pin = read_pin(tree, environment)
        if pin.digest is None:
            raise RenderError(
                f"{environment} pins chart {pin.version} without a digest: which contents it "
                "runs is unknown (uo chart bump records both)"
            )
        if self._package(own).digest == pin.digest:
            return ChartSource(own, pin.version, "the working tree")
        found = self._from_history.get(pin.digest) or self._search(pin.version, pin.digest)
        if found is None:
            raise RenderError(self._not_found(environment, pin.version, pin.digest))
        self._from_history[pin.digest] = found
        return found

    def _package(self, chart: Path) -> Package:
        if chart not in self._packaged:
            self._packaged[chart] = package(chart)
        return self._packaged[chart]

    def _git(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", *args], cwd=self.history, capture_output=True, check=False)

    def _candidates(self, version: str) -> list[str]:
        """Commits whose chart declares ``version``, newest first."""
        listed = self._git("log", "--all", "--format=%H", "--", CHART_PATH)
        found = []
        for commit in listed.stdout.decode().split():
            shown = self._git("show", f"{commit}:{CHART_PATH}/Chart.yaml")
            try:
                declared = (yaml.safe_load(shown.stdout) or {}).get("version")
            except yaml.YAMLError:
                continue
            if shown.returncode == 0 and str(declared) == version:
                found.append(commit)
        return found

    def _checkout(self, commit: str) -> Path | None:
        assert self._scratch is not None, "use PinnedCharts as a context manager"
        archive = self._git("archive", "--format=tar", commit, "--", CHART_PATH)
        if archive.returncode != 0:
            return None
        folder = Path(self._scratch.name) / commit
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
        return folder / CHART_PATH

    def _search(self, version: str, digest: str) -> ChartSource | None:
        for commit in self._candidates(version):
            chart = self._checkout(commit)
            if chart is not None and self._package(chart).digest == digest:
                return ChartSource(chart, version, f"commit {commit[:12]}")
        return None

    def _not_found(self, environment: str, version: str, digest: str) -> str:
        candidates = [
            f"{commit[:12]} packages to {self._package(chart).digest[:19]}…"
            for commit in self._candidates(version)
            if (chart := self._checkout(commit)) is not None
        ]
        shallow = self._git("rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
        return (
            f"{environment} pins chart {version} ({digest[:19]}…), and no commit of this "
            "repository packages to it"
            + (f" (commits with that version: {'; '.join(candidates)})" if candidates else "")
            + (": this clone is shallow, fetch the whole history" if shallow else "")
            + "; --chart tree renders with the working tree's chart instead"
        )


__all__ = ["PINNED", "TREE", "ChartSource", "PinnedCharts"]
