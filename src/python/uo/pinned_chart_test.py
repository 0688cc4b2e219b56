"""`uo render` renders each environment with the chart it pins, found in git history by its
digest, driven through main(argv) on a throwaway repository holding infra/ and the chart in two
versions: prod still pins the first, dev the second. The Helm engine packages and renders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from unifyops_core.naming import ENVIRONMENTS
from uo.charts import ChartPin, package, read_pin, write_pin
from uo.cli import main
from uo.repo import CHART_PATH, ENVIRONMENTS_PATH, find_repo_root

MARK = "pinned-chart-test"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def pin_to_tree(repo: Path, environment: str) -> None:
    chart = package(repo / CHART_PATH)
    pin = read_pin(repo, environment)
    write_pin(repo, environment, ChartPin(pin.repository, pin.name, chart.version, chart.digest))


@pytest.fixture
def two_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A repository whose first commit every environment pins, and whose second (a new chart
    version with a ConfigMap more) only dev pins; returns it and the first commit."""
    source = find_repo_root()
    repo = tmp_path / "repo"
    shutil.copytree(source / ENVIRONMENTS_PATH, repo / ENVIRONMENTS_PATH)
    shutil.copytree(source / CHART_PATH, repo / CHART_PATH)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    for environment in ENVIRONMENTS:
        pin_to_tree(repo, environment)
    first = commit(repo, "chart as it is")
    (repo / CHART_PATH / "templates/pinned-chart-test.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {MARK}\ndata: {{}}\n"
    )
    chart_yaml = repo / CHART_PATH / "Chart.yaml"
    chart_yaml.write_text(
        "".join(
            "version: 9.9.9\n" if line.startswith("version:") else line
            for line in chart_yaml.read_text().splitlines(keepends=True)
        )
    )
    pin_to_tree(repo, "dev")
    commit(repo, "chart 9.9.9, deployed to dev")
    monkeypatch.setenv("UO_REPO_ROOT", str(repo))
    return repo, first


def render(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def headers(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("# --- ")]


def test_each_environment_renders_with_the_chart_it_pins(
    two_versions: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, first = two_versions
    old_version = read_pin(repo, "prod").version
    code, out, _ = render(["--env", "prod", "--stack", "user"], capsys)
    assert code == 0
    (header,) = headers(out)
    assert header.endswith(f"(chart {old_version} from commit {first[:12]})")
    assert MARK not in out
    code, out, _ = render(["--env", "dev", "--stack", "user"], capsys)
    assert code == 0
    assert headers(out)[0].endswith("(chart 9.9.9 from the working tree)")
    assert f"name: {MARK}" in out


def test_the_tree_chart_on_request(
    two_versions: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = render(["--env", "prod", "--stack", "user", "--chart", "tree"], capsys)
    assert code == 0
    assert headers(out)[0].endswith("(chart 9.9.9 from the working tree)")
    assert f"name: {MARK}" in out


def test_a_shallow_clone_says_what_is_missing(
    two_versions: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, _ = two_versions
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    monkeypatch.setenv("UO_REPO_ROOT", str(shallow))
    code, out, err = render(["--env", "prod", "--stack", "user"], capsys)
    assert (code, out) == (1, "")
    (line,) = err.strip().splitlines()
    assert line.startswith("uo render: prod pins chart ")
    assert "no commit of this repository packages to it: this clone is shallow" in line
    code, out, _ = render(["--env", "dev", "--stack", "user"], capsys)
    assert code == 0  # dev pins the tree's own chart: no history needed


def test_a_pin_without_a_digest_is_refused(
    two_versions: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _ = two_versions
    pin = read_pin(repo, "staging")
    write_pin(repo, "staging", ChartPin(pin.repository, pin.name, pin.version, None))
    code, _, err = render(["--env", "staging"], capsys)
    assert code == 1
    assert err.strip() == (
        f"uo render: staging pins chart {pin.version} without a digest: which contents it runs "
        "is unknown (uo chart bump records both)"
    )
