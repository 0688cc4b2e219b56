from pathlib import Path

import pytest
import yaml

from uo.cli import main


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
    assert main(["render"]) == 0
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


@pytest.mark.parametrize("argv", [["--help"], ["render", "--help"]])
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    assert "usage: uo" in capsys.readouterr().out


def test_unknown_environment_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["render", "--env", "qa"])
    assert exited.value.code == 2
    assert "invalid choice: 'qa'" in capsys.readouterr().err
