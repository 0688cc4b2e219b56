"""`uo seal` through uo.cli.main, on a copy of the repository with a throwaway controller."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from uo.cli import main
from uo.sealing_testutil import Controller

ROOT = Path.cwd()
CONTROLLER = Controller.generate()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for folder in ("src/charts", "infra/environments"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    for env in ("dev", "prod"):
        shutil.rmtree(tmp_path / f"infra/environments/{env}/sealed")
        cert = tmp_path / f"infra/environments/{env}/sealed-secrets-cert.pem"
        cert.write_bytes(CONTROLLER.certificate_pem)
    monkeypatch.setenv("UO_REPO_ROOT", str(tmp_path))
    return tmp_path


def sealed(repo: Path, env: str) -> dict[str, dict[str, str]]:
    found = {}
    for file in sorted((repo / f"infra/environments/{env}/sealed").glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                found[doc["metadata"]["name"]] = doc["spec"]["encryptedData"]
    return found


def plaintexts(repo: Path, env: str) -> set[str]:
    return {
        CONTROLLER.unseal(value, namespace=f"uo-{env}", name=name).decode()
        for name, data in sealed(repo, env).items()
        for value in data.values()
    }


def test_seal_writes_keeps_and_rotates_without_printing_values(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seal", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert "created user-db-credentials (database, password, username)" in out
    assert "wrote infra/environments/dev/sealed/" in out
    first = sealed(repo, "dev")
    assert "user-db-credentials" in first

    assert main(["seal", "--env", "dev"]) == 0
    assert "kept user-db-credentials" in capsys.readouterr().out
    assert sealed(repo, "dev") == first

    assert main(["seal", "--env", "dev", "--secret", "user-db-credentials", "--rotate"]) == 0
    captured = capsys.readouterr()
    after = sealed(repo, "dev")
    assert after["user-db-credentials"] != first["user-db-credentials"]
    assert after["auth-db-credentials"] == first["auth-db-credentials"]
    for value in plaintexts(repo, "dev"):
        if len(value) > 12:  # generated values; stack names are public
            assert value not in captured.out + captured.err


def test_supplied_values_from_a_file(repo: Path, tmp_path: Path) -> None:
    value_file = tmp_path / "password.txt"
    value_file.write_text("from-a-file-value")
    argv = ["seal", "--env", "prod", "--secret", "auth-db-credentials"]
    assert main([*argv, "--from-file", f"password={value_file}"]) == 0
    assert "from-a-file-value" in plaintexts(repo, "prod")
    assert set(sealed(repo, "prod")) == {"auth-db-credentials"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-literal", "password=x"], "uo seal: --from-literal needs --secret NAME"),
        (["--secret", "nope"], "uo seal: the chart of dev references no Secret 'nope'"),
        (
            ["--secret", "auth-db-credentials", "--from-literal", "oops"],
            "uo seal: --from-literal takes KEY=VALUE",
        ),
    ],
)
def test_bad_requests_are_one_line_messages(
    repo: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seal", "--env", "dev", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message.split(":")[0])
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_certificate_says_where_to_get_one(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "infra/environments/staging/sealed-secrets-cert.pem").unlink()
    assert main(["seal", "--env", "staging"]) == 1
    err = capsys.readouterr().err
    assert "uo seal: no controller certificate at infra/environments/staging/" in err
    assert "kubeseal --fetch-cert" in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["seal", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--rotate" in out
    assert "--from-literal" in out
