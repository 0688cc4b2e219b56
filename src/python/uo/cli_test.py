import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from uo.cli import EXIT_BROKEN_PIPE, build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> list[str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(action.choices)


def test_render_prints_the_manifests_of_one_environment_and_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["render", "--env", "dev", "--stack", "user"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# --- dev/user: ")
    objects = [doc for doc in yaml.safe_load_all(out) if doc]
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert deployments == {"user-app", "user-api", "user-service"}
    assert {
        o["metadata"]["labels"]["unifyops.io/environment"]
        for o in objects
        if o["kind"] == "Deployment"
    } == {"dev"}


def test_render_defaults_to_every_environment_and_stack(capsys: pytest.CaptureFixture[str]) -> None:
    # The tree's chart: this sandbox has no git history to find staging's and prod's pinned
    # charts in (pinned_chart_test.py and tests/release/pinned_charts_test.py render those).
    assert main(["render", "--chart", "tree"]) == 0
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("# --- ")]
    assert len(headers) == 9


def test_outside_a_checkout_it_fails_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UO_REPO_ROOT", raising=False)
    assert main(["render"]) == 1
    assert "not inside a UnifyOps checkout" in capsys.readouterr().err


def test_a_render_error_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    for folder in ("src/charts", "infra/environments"):
        shutil.copytree(Path.cwd() / folder, tmp_path / folder)
    stack_file = tmp_path / "infra/environments/dev/auth.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("tiers:", "tiers:\n  api:\n    replicaz: 3\n  x: {}\n", 1)
    )
    monkeypatch.setenv("UO_REPO_ROOT", str(tmp_path))
    assert main(["render", "--env", "dev", "--stack", "auth"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("uo render: ")
    assert "Traceback" not in err


COMMANDS = sorted(_subparsers(build_parser()))
EXPECTED_COMMANDS = [
    *("affected", "build", "bump", "chart", "check-core", "completion", "diff", "down"),
    *("grant", "images", "logs"),
    *("matrix", "new", "promote", "prune", "publish", "render", "revoke", "seal", "status"),
    *("trace", "up"),
    "where",
]


def test_the_commands() -> None:
    assert sorted(COMMANDS) == EXPECTED_COMMANDS


@pytest.mark.parametrize("argv", [["--help"], *([name, "--help"] for name in EXPECTED_COMMANDS)])
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: uo {argv[0]}" if len(argv) == 2 else "usage: uo")
    assert "-h, --help" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "--env", "qa"], "uo render: error: argument --env: invalid choice: 'qa'"),
        (["render", "--stack", "billing"], "uo render: error: argument --stack: invalid choice"),
        (["bump", "--env", "qa"], "uo bump: error: argument --env: invalid choice: 'qa'"),
        (["bump"], "uo bump: error: the following arguments are required: --env"),
        (["promote", "dev", "qa"], "uo promote: error: argument target: invalid choice: 'qa'"),
        (["logs", "billing", "api"], "uo logs: error: argument stack: invalid choice"),
        (["up", "--env", "qa"], "uo up: error: argument --env: invalid choice: 'qa'"),
        (["up", "--watch", "--interval", "0"], "uo up: error: argument --interval: must be more"),
        (["up", "--watch", "--interval", "soon"], "uo up: error: argument --interval: not a num"),
        (["publish"], "uo publish: error: one of the arguments --since --image is required"),
        (["frobnicate"], "uo: error: argument COMMAND: invalid choice: 'frobnicate'"),
        ([], "uo: error: the following arguments are required: COMMAND"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(message), err
    assert err.rstrip().endswith("--help)")


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone (what `uo ... | head` gives once head exits)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_quietly_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["render", "--env", "dev", "--stack", "user"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_piped_into_head_prints_no_traceback() -> None:
    """The real thing: the CLI in its own process, its stdout read by a reader that stops after
    one line and closes the pipe (as `uo render | head -1` does)."""
    code = "import sys; from uo.cli import entrypoint; sys.argv = ['uo', 'render']; entrypoint()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # the reader leaves; the CLI still has a lot to print
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == EXIT_BROKEN_PIPE, err
    assert first.startswith(b"# --- dev/")
    assert err == ""


def _checkout(root: Path, chart_version: str) -> str:
    """A minimal UnifyOps checkout (chart + infra folders) committed once; returns its commit."""
    (root / "src/charts/unifyops-stack").mkdir(parents=True)
    (root / "src/charts/unifyops-stack/Chart.yaml").write_text(
        f"apiVersion: v2\nname: unifyops-stack\nversion: {chart_version}\n"
    )
    (root / "infra/environments").mkdir(parents=True)
    (root / "infra/environments/README").write_text("x\n")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@unifyops.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return head.stdout.strip()


def test_version_names_the_commit_core_and_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import unifyops_core

    commit = _checkout(tmp_path, "9.8.7")
    monkeypatch.setenv("UO_REPO_ROOT", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    core = unifyops_core.__version__
    expected = f"uo {commit} (unifyops_core {core}, chart unifyops-stack 9.8.7)"
    assert capsys.readouterr().out == expected + "\n"
    # A changed tracked file marks the build as not that commit.
    (tmp_path / "infra/environments/README").write_text("changed\n")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert f"uo {commit}-dirty (" in capsys.readouterr().out


def test_version_outside_a_checkout_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import unifyops_core

    monkeypatch.setenv("UO_REPO_ROOT", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out == f"uo (unifyops_core {unifyops_core.__version__}; outside a UnifyOps checkout)\n"


def test_where_lists_local_and_the_recorded_environments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from unifyops_core.naming import STACKS
    from uo.repo import find_repo_root
    from uo.state import checkout_core_version, where_core

    repo = find_repo_root()
    checkout = checkout_core_version(repo)
    assert checkout is not None, "this checkout holds the core's sources"
    assert main(["where", "core", checkout, "--json"]) == 0
    pairs = [(p["environment"], p["stack"]) for p in json.loads(capsys.readouterr().out)]
    assert pairs == [("local", s) for s in STACKS] + where_core(repo, checkout)
    recorded = yaml.safe_load((repo / "infra/environments/dev/user.yaml").read_text())
    assert main(["where", "core", recorded["coreVersion"]]) == 0
    assert "dev/user\n" in capsys.readouterr().out


def test_where_exits_1_naming_what_runs_when_nothing_matches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from uo.repo import find_repo_root
    from uo.state import checkout_core_version

    assert main(["where", "core", "0.0.0-nowhere"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("no environment runs unifyops_core 0.0.0-nowhere (")
    assert f"{checkout_core_version(find_repo_root())}: local/auth" in captured.err


def test_up_interval_without_watch_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["up", "--interval", "5"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "uo up: --interval is for --watch (uo up --watch --interval SECONDS)\n"


def test_up_images_from_a_missing_directory_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-dist"
    assert main(["up", "--env", "test", "--images-from", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"uo up: --images-from {missing}: no such directory\n"
