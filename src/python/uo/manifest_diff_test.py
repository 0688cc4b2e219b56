"""`uo diff` through main(argv) on a throwaway checkout (infra/ and the chart, in git): exactly the
objects a change touches, Secret values never printed, a pair that stops rendering fails the
command, and the Markdown a pull request's job summary gets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from unifyops_core.naming import ENVIRONMENTS
from uo.charts import ChartPin, package, read_pin, write_pin
from uo.cli import main
from uo.repo import CHART_PATH, ENVIRONMENTS_PATH, find_repo_root

SECRET_TEMPLATE = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-diff-test
stringData:
  token: "first-secret-value"
  other: "unchanged-secret-value"
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source = find_repo_root()
    repo = tmp_path / "repo"
    shutil.copytree(source / ENVIRONMENTS_PATH, repo / ENVIRONMENTS_PATH)
    shutil.copytree(source / CHART_PATH, repo / CHART_PATH)
    (repo / CHART_PATH / "templates/diff-test-secret.yaml").write_text(SECRET_TEMPLATE)
    for environment in ENVIRONMENTS:
        pin_to_tree(repo, environment)  # every environment runs this (test) chart
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base")
    monkeypatch.setenv("UO_REPO_ROOT", str(repo))
    return repo


def pin_to_tree(repo: Path, environment: str) -> None:
    """What `uo chart bump --env <environment>` records: the tree's chart, version and digest."""
    chart = package(repo / CHART_PATH)
    pin = read_pin(repo, environment)
    write_pin(repo, environment, ChartPin(pin.repository, pin.name, chart.version, chart.digest))


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def edit(path: Path, change: dict[str, object]) -> None:
    document = yaml.safe_load(path.read_text())
    document.update(change)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_no_change_prints_so_and_exits_0(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["diff", "--since", "HEAD", "--exit-code"], capsys)[:2] == (
        0,
        "no manifest changes since HEAD\n",
    )


def test_a_values_change_shows_only_the_objects_it_touches(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staging_user = checkout / ENVIRONMENTS_PATH / "staging/user.yaml"
    document = yaml.safe_load(staging_user.read_text())
    document["tiers"]["api"]["replicas"] = 5
    staging_user.write_text(yaml.safe_dump(document, sort_keys=False))

    code, out, err = run(["diff", "--since", "HEAD"], capsys)
    assert code == 0, err
    assert "rendering every environment and stack at HEAD" in err
    lines = out.splitlines()
    assert lines[0] == "# --- staging/user"
    assert "--- a/staging/user/Deployment/user-api" in lines
    assert "+  replicas: 5" in lines
    assert lines[-1] == "1 changed, 0 added, 0 removed objects in 1 environment/stack pairs"
    assert sum(line.startswith("# --- ") for line in lines) == 1  # no other pair
    assert run(["diff", "--since", "HEAD", "--exit-code"], capsys)[0] == 1


def test_secret_values_are_never_printed(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = checkout / CHART_PATH / "templates/diff-test-secret.yaml"
    template.write_text(template.read_text().replace("first-secret", "second-secret"))
    pin_to_tree(checkout, "dev")
    code, out, _ = run(["diff", "--since", "HEAD", "--env", "dev"], capsys)
    assert code == 0
    assert "--- a/dev/auth/Secret/auth-diff-test" in out
    assert "-  token: (hidden)" in out
    assert "+  token: (hidden, changed)" in out
    assert "other" not in out.replace("other: (hidden)", "")  # unchanged: context at most
    for value in ("first-secret-value", "second-secret-value", "unchanged-secret-value"):
        assert value not in out


def test_a_pair_that_stops_rendering_fails_with_the_reason(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(checkout / ENVIRONMENTS_PATH / "prod/environment.yaml", {"tiers": "not a mapping"})
    code, out, _ = run(["diff", "--since", "HEAD", "--stack", "environment"], capsys)
    assert code == 1
    assert out.startswith("# --- prod/environment\nerror: head does not render: ")
    assert "1 do not render" in out.splitlines()[-1]


def test_added_and_removed_stacks_and_markdown_for_a_job_summary(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkout / ENVIRONMENTS_PATH / "staging/environment.yaml").unlink()
    code, out, _ = run(["diff", "--since", "HEAD", "--markdown"], capsys)
    assert code == 0
    assert out.startswith(
        "### Manifest changes since `HEAD` (what Argo CD would apply)\n\n0 changed, 0 added, "
    )
    assert "\n#### staging/environment\n\n```diff\n--- a/staging/environment/" in out
    assert "+++ /dev/null" in out
    assert "#### staging/user" not in out


def test_a_ref_that_names_no_commit_is_one_line(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["diff", "--since", "no-such-ref"], capsys)
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith(
        "uo diff: cannot read infra/ and the chart at 'no-such-ref': "
    )


def set_chart_version(repo: Path, version: str) -> None:
    path = repo / CHART_PATH / "Chart.yaml"
    path.write_text(
        "\n".join(
            f"version: {version}" if line.startswith("version:") else line
            for line in path.read_text().splitlines()
        )
        + "\n"
    )


def change_the_chart(repo: Path) -> None:
    """A new chart version whose every Deployment gets a label."""
    helpers = repo / CHART_PATH / "templates/diff-test-secret.yaml"
    helpers.write_text(
        helpers.read_text().replace(
            "name: {{ .Release.Name }}-diff-test",
            ('name: {{ .Release.Name }}-diff-test\n  labels:\n    chart-change: "yes"'),
        )
    )
    set_chart_version(repo, "9.9.9")


def test_a_chart_change_shows_only_where_an_environment_pins_it(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change_the_chart(checkout)
    pin_to_tree(checkout, "dev")  # dev takes the new chart; staging and prod still pin the old
    code, out, _ = run(["diff", "--since", "HEAD"], capsys)
    assert code == 0, out
    changed = [line[6:] for line in out.splitlines() if line.startswith("# --- ")]
    assert changed == ["dev/auth", "dev/environment", "dev/user"]
    assert "+    chart-change: 'yes'" in out.splitlines()
    # The tree's chart for every environment, as a preview of promoting it.
    code, out, _ = run(["diff", "--since", "HEAD", "--chart", "tree"], capsys)
    assert code == 0, out
    assert sum(line.startswith("# --- prod/") for line in out.splitlines()) == 3


def test_a_promotion_shows_what_the_newer_chart_changes(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change_the_chart(checkout)
    pin_to_tree(checkout, "dev")
    commit(checkout, "chart 9.9.9, deployed to dev")
    pin_to_tree(checkout, "staging")  # uo promote carries dev's pin to staging
    code, out, _ = run(["diff", "--since", "HEAD"], capsys)
    assert code == 0, out
    changed = [line[6:] for line in out.splitlines() if line.startswith("# --- ")]
    assert changed == ["staging/auth", "staging/environment", "staging/user"]
    assert "+    chart-change: 'yes'" in out.splitlines()


def test_a_pin_no_commit_packages_to_fails_with_the_reason(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin = read_pin(checkout, "prod")
    unknown = ChartPin(pin.repository, pin.name, pin.version, "sha256:" + "0" * 64)
    write_pin(checkout, "prod", unknown)
    code, out, _ = run(["diff", "--since", "HEAD", "--env", "prod", "--stack", "user"], capsys)
    assert code == 1
    assert out.startswith(
        f"# --- prod/user\nerror: head does not render: prod pins chart {pin.version} "
        "(sha256:000000000000…), and no commit of this repository packages to it "
        "(commits with that version: "
    )
    assert "--chart tree renders with the working tree's chart instead" in out
