import pytest
from fastapi import FastAPI

from unifyops_core.service_cli import run_service_cli


def never_called() -> FastAPI:
    raise AssertionError("the app must not be built for this command")


def test_migrate_success_exits_zero() -> None:
    calls: list[str] = []
    code = run_service_cli(
        ["migrate"],
        name="demo-service",
        port=8001,
        app_factory=never_called,
        migrate=lambda: calls.append("migrated"),
    )
    assert (code, calls) == (0, ["migrated"])


def test_migrate_failure_exits_non_zero_with_a_redacted_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken() -> None:
        raise ConnectionError("could not connect to postgresql://app:hunter2@db:5432/x")

    code = run_service_cli(
        ["migrate"], name="demo-service", port=8001, app_factory=never_called, migrate=broken
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "demo-service: migration failed: ConnectionError" in err
    assert "hunter2" not in err


def test_a_configuration_error_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def misconfigured() -> FastAPI:
        raise ValueError("secrets signing_key are empty or placeholders")

    assert run_service_cli(["serve"], name="demo-api", port=8002, app_factory=misconfigured) == 1
    assert capsys.readouterr().err.startswith("demo-api: cannot start: secrets signing_key")


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["migrate", "--help"]])
def test_help_on_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_service_cli(
            argv, name="demo-service", port=8001, app_factory=never_called, migrate=lambda: None
        )
    assert exited.value.code == 0
    assert "usage: demo-service" in capsys.readouterr().out


def test_gateways_have_no_migrate_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_service_cli(["migrate"], name="demo-api", port=8002, app_factory=never_called)
    assert exited.value.code == 2
