"""`uo chart publish` / `uo chart bump` and the chart's part in `uo promote`, driven in-process
through ``uo.cli.main(argv)`` against a throwaway registry of registry.sh's kind (TLS, htpasswd),
on a throwaway git repository holding a copy of infra/ and the chart. Nothing is faked: the Helm
engine packages, the registry stores, git commits, and Helm itself pulls the published chart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from uo.charts import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, package, read_pin
from uo.cli import main
from uo.registry import Registry
from uo.registry_testutil import ThrowawayRegistry, throwaway_registry

CHART = "src/charts/unifyops-stack"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def started_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayRegistry]:
    with throwaway_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
def registry(started_registry: ThrowawayRegistry, monkeypatch: pytest.MonkeyPatch) -> str:
    """The throwaway registry standing in for every environment's ($UO_REGISTRY), with its
    account given the way CI gives it (no Docker engine needed for the login)."""
    user, _, password = (
        (started_registry.state / "auth/credentials").read_text().strip().partition(":")
    )
    monkeypatch.setenv("UO_REGISTRY", started_registry.address)
    monkeypatch.setenv("UO_REGISTRY_USERNAME", user)
    monkeypatch.setenv("UO_REGISTRY_PASSWORD", password)
    return started_registry.address


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(Path.cwd() / "infra/environments", root / "infra/environments")
    shutil.copytree(Path.cwd() / CHART, root / CHART)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@unifyops.invalid")
    git(root, "config", "user.name", "ci")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    monkeypatch.setenv("UO_REPO_ROOT", str(root))
    monkeypatch.chdir(root)
    return root


def set_version(repo: Path, version: str) -> None:
    """Each test publishes its own version: the module's registry outlives one test."""
    path = repo / CHART / "Chart.yaml"
    yaml = YAML()
    chart = yaml.load(path.read_text())
    chart["version"] = version
    with path.open("w") as file:
        yaml.dump(chart, file)


def edit_template(repo: Path) -> None:
    with (repo / CHART / "templates/_helpers.tpl").open("a") as file:
        file.write("{{/* a change to the chart's contents */}}\n")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_packaging_gives_the_same_digest_for_the_same_chart(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "unifyops-stack", tmp_path / "b" / "unifyops-stack"
    shutil.copytree(Path.cwd() / CHART, first)
    shutil.copytree(Path.cwd() / CHART, second)
    # Another checkout: other mtimes and modes, the same contents.
    for path in second.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
        if path.is_file():
            path.chmod(0o600)
    one, two = package(first), package(second)
    assert one.archive == two.archive
    assert one.digest == two.digest
    declared = YAML(typ="safe").load((first / "Chart.yaml").read_text())
    assert (one.name, one.version) == ("unifyops-stack", str(declared["version"]))
    # The gzip header holds no time: bytes 4..8 (MTIME) are zero.
    assert one.archive[:2] == b"\x1f\x8b"
    assert one.archive[4:8] == b"\0\0\0\0"
    with (second / "templates/_helpers.tpl").open("a") as file:
        file.write("{{/* changed */}}\n")
    assert package(second).digest != one.digest


def test_publish_pushes_a_helm_oci_artifact_that_helm_pulls(
    repo: Path,
    registry: str,
    started_registry: ThrowawayRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_version(repo, "0.2.0")
    chart = package(repo / CHART)
    code, out, err = run(["chart", "publish", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result == {
        "name": "unifyops-stack",
        "version": "0.2.0",
        "reference": f"{registry}/charts/unifyops-stack:0.2.0",
        "digest": chart.digest,
        "pushed": True,
    }
    with Registry(registry) as client:
        held = client.manifest("charts/unifyops-stack", "0.2.0")
    assert held is not None
    assert held.digest == chart.digest
    assert held.media_type == MANIFEST_MEDIA_TYPE
    body = json.loads(held.body)
    assert body["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    assert [layer["mediaType"] for layer in body["layers"]] == [LAYER_MEDIA_TYPE]

    # Helm itself (what Argo CD runs) pulls it back, logged in, trusting the registry's CA. A
    # child process: Go reads SSL_CERT_FILE once per process.
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    script = textwrap.dedent(
        f"""
        import os, sys, helm_python as helm
        with helm.RegistryClient(credentials_file={str(tmp_path / "helm.json")!r}) as client:
            client.login({registry!r}, os.environ["UO_REGISTRY_USERNAME"],
                         os.environ["UO_REGISTRY_PASSWORD"])
            client.pull("oci://{registry}/charts/unifyops-stack", version="0.2.0",
                        destination={str(pulled)!r})
        """
    )
    env = {**os.environ, "SSL_CERT_FILE": str(started_registry.state / "certs/ca.crt")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (pulled / "unifyops-stack-0.2.0.tgz").read_bytes() == chart.archive

    # Publishing the same chart again changes nothing.
    code, out, _ = run(["chart", "publish"], capsys)
    assert code == 0
    assert out.strip() == (
        f"{registry}/charts/unifyops-stack:0.2.0 -> {chart.digest} "
        "(already in the registry (same chart); not pushed)"
    )


def test_publish_refuses_to_move_a_version_to_other_contents(
    repo: Path, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    set_version(repo, "0.3.0")
    assert run(["chart", "publish", "--env", "dev"], capsys)[0] == 0
    first = package(repo / CHART).digest
    edit_template(repo)  # the contents change, the version does not
    code, out, err = run(["chart", "publish", "--env", "dev"], capsys)
    assert code == 1
    assert out == ""
    assert err.startswith("uo chart: refusing to move chart version ")
    assert f"is {first}, this chart packages to {package(repo / CHART).digest}" in err
    with Registry(registry) as client:
        held = client.manifest("charts/unifyops-stack", "0.3.0")
    assert held is not None
    assert held.digest == first
    set_version(repo, "0.3.1")  # a new version is the way forward
    assert run(["chart", "publish", "--env", "dev"], capsys)[0] == 0


def test_bump_pins_the_published_chart_and_promote_carries_it(
    repo: Path, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    staging_before = read_pin(repo, "staging").version
    set_version(repo, "0.4.0")
    git(repo, "commit", "-qam", "chart 0.4.0")
    code, _, err = run(["chart", "bump", "--env", "dev"], capsys)
    assert code == 1
    assert "charts/unifyops-stack:0.4.0 is not published; run uo chart publish --env dev" in err

    assert run(["chart", "publish", "--env", "dev"], capsys)[0] == 0
    code, out, _ = run(["chart", "bump", "--env", "dev", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    digest = package(repo / CHART).digest
    assert result["chart"] == {
        # The repository Argo CD pulls from is env.yaml's registry, not the $UO_REGISTRY stand-in.
        "repository": "harbor.unifyops.internal/charts",
        "name": "unifyops-stack",
        "version": "0.4.0",
        "digest": digest,
    }
    assert git(repo, "rev-parse", "HEAD") == result["commit"]
    assert git(repo, "log", "-1", "--format=%s") == "release(dev): the chart"
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == (
        "infra/environments/dev/chart.yaml"
    )
    text = (repo / "infra/environments/dev/chart.yaml").read_text()
    assert text.startswith("# The chart dev runs:"), "the file's comments survive"
    assert run(["chart", "bump", "--env", "dev"], capsys)[1].startswith("dev already runs")

    # A promotion of some stacks leaves the environment-wide chart alone ...
    code, out, _ = run(["promote", "dev", "staging", "--stack", "user"], capsys)
    assert code == 0
    assert "staging: chart not promoted (environment-wide; promote without --stack)" in out
    # ... a promotion of the environment carries it, version and digest, in one commit.
    code, out, _ = run(["promote", "dev", "staging"], capsys)
    assert code == 0
    assert f"staging: chart unifyops-stack {staging_before} -> 0.4.0 {digest}" in out
    assert "dry run" in out
    assert read_pin(repo, "staging").version == staging_before  # a dry run writes nothing
    assert run(["promote", "dev", "staging", "--yes", "--no-latest"], capsys)[0] == 0
    staging = read_pin(repo, "staging")
    assert (staging.version, staging.digest) == ("0.4.0", digest)
    assert staging.repository == "harbor.unifyops.internal/charts"
    assert "- chart unifyops-stack 0.4.0" in git(repo, "log", "-1", "--format=%b")
    code, out, _ = run(["promote", "dev", "staging"], capsys)
    assert out.startswith("staging already runs what dev runs")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chart"], "uo chart: error: the following arguments are required: ACTION"),
        (["chart", "bump"], "uo chart bump: error: the following arguments are required: --env"),
        (["chart", "publish", "--env", "qa"], "uo chart publish: error: argument --env"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
