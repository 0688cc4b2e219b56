"""`uo diff` through main(argv) on a throwaway checkout (infra/ and the chart, in git): exactly the
objects a change touches, Secret values never printed, a pair that stops rendering fails the
command, and the Markdown a pull request's job summary gets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base")
    monkeypatch.setenv("UO_REPO_ROOT", str(repo))
    return repo


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
