"""`uo grant` / `uo revoke`: argument handling in process, no engine → one line and exit 1, and
the service subcommand's real output and exit codes turned into uo's (exit 0/1/2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from unifyops.identity.auth.auth_service import roles_cli
from unifyops.identity.auth.auth_service.config import Settings
from unifyops_core.db import DatabaseSettings
from uo.cli import main
from uo.commands.roles import report
from uo.errors import RoleError, UsageError
from uo.local.accounts import Outcome


@pytest.mark.parametrize("command", ["grant", "revoke"])
def test_help_explains_when_the_change_takes_effect(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith(f"usage: uo {command} [-h] [--env")
    assert "next sign-in or token refresh" in out
    assert "member, viewer, deployer or admin" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["grant", "ada@example.com"],
            "uo grant: error: the following arguments are required: role",
        ),
        (["revoke"], "uo revoke: error: the following arguments are required: email, role"),
        (
            ["grant", "ada@example.com", "admin", "--env", "qa"],
            "uo grant: error: argument --env: invalid choice: 'qa'",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(message), err


def test_without_an_engine_it_says_so_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert main(["grant", "ada@example.com", "admin"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("uo grant: no Docker engine answers at $DOCKER_HOST")
    assert "Traceback" not in err


def test_a_successful_change_prints_the_account(capsys: pytest.CaptureFixture[str]) -> None:
    line = "ada@example.com: member, admin (scopes: profile:read roles:write)"
    assert report(Outcome(0, line + "\n", "")) == 0
    assert capsys.readouterr().out == line + "\n"


def test_the_services_usage_error_is_uos_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        roles_cli.main(["grant", "ada@example.com", "root"])
    said = Outcome(int(str(exited.value.code)), "", capsys.readouterr().err)
    with pytest.raises(UsageError) as refused:
        report(said)
    assert str(refused.value).startswith("argument role: invalid choice: 'root' (choose from")
    assert refused.value.exit_code == 2


def test_the_services_refusal_is_a_role_error(capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = Settings(database=DatabaseSettings(host="127.0.0.1", port=9, password=SecretStr("x")))
    code = roles_cli.main(["grant", "ada@example.com", "viewer"], settings=nowhere)
    said = Outcome(code, "", capsys.readouterr().err)
    with pytest.raises(RoleError) as refused:
        report(said)
    assert str(refused.value).startswith("database unavailable: ")
    assert refused.value.exit_code == 1
    missing = Outcome(1, "", "auth-service roles grant: No account with this email\n")
    assert missing.message() == "No account with this email"
