"""Every release command driven in-process through ``uo.cli.main(argv)``, on a throwaway git
repository holding a copy of infra/ and the chart.

What is faked, and why:
- Pants (``Pants.run``, the one place uo calls ./pants): a real Pants graph needs a clone of the
  whole repository and building images needs minutes and the shared engine. The fake answers
  `peek` with the docker_image fields the BUILD files declare (the same shape `pants peek`
  prints), `dependents` from a table of which image owns which folder, and `package` by building
  a tiny image per target with the real engine (FROM scratch, the target's labels) and writing
  the docker-info file Pants writes. tests/release/affected_test.py runs the same commands on
  real Pants.
- Publishing is real: a throwaway registry of registry.sh's kind (TLS, htpasswd) on its own port
  ($UO_REGISTRY points every environment at it). Only `uo images` reads from a loopback HTTP
  server answering the two Registry API calls (manifest by tag, config blob).
Everything else (git, the infra files, the manifest, the commits) is real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from ruamel.yaml import YAML

from unifyops_core.naming import STACKS
from uo.cli import main
from uo.pants_runner import Pants
from uo.registry import Registry
from uo.registry_testutil import ThrowawayRegistry, throwaway_registry, tiny_image

LABELS = "io.unifyops.stack", "io.unifyops.tier"
TAG = "0123456789abcdef0123456789abcdef01234567"


def image_target(address: str, repository: str, stack: str, tier: str, base: str) -> dict[str, Any]:
    generated = not address.startswith("src/docker/")
    return {
        "address": address,
        "target_type": "docker_image",
        "repository": repository,
        "image_labels": {LABELS[0]: stack, LABELS[1]: tier},
        "extra_build_args": [f"UO_BASE_{base.upper()}_IMAGE", "UO_GIT_SHA"],
        "instructions": ["FROM ${UO_BASE_PYTHON_IMAGE}"] if generated else None,
        "sources": [] if generated else [f"{address.split(':')[0]}/Dockerfile"],
    }


TARGETS = [
    image_target("src/web:user_app_image", "unifyops/user-app", "user", "app", "python"),
    image_target(
        "src/python/unifyops/identity/user/user_api:image",
        "unifyops/user-api",
        "user",
        "api",
        "python",
    ),
    image_target("src/python/uo_edge:image", "unifyops/edge", "shared", "edge", "python"),
    image_target(
        "src/docker/postgres:image", "unifyops/postgres", "shared", "database", "postgres"
    ),
]
# Which image a change under a folder affects (what Pants' dependents would answer).
OWNERS = {
    "src/web/user_app/": "src/web:user_app_image",
    "src/python/unifyops/identity/user/user_api/": TARGETS[1]["address"],
    "src/python/uo_edge/": "src/python/uo_edge:image",
    "src/docker/postgres/": "src/docker/postgres:image",
}


class FakePants:
    """Answers the Pants calls uo makes (see the module docstring); records every call."""

    def __init__(self, engine: docker.DockerClient, content: str = "first build") -> None:
        self.engine = engine
        self.content = content  # what the images hold: another content is another image
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str) -> list[str]:
        self.calls.append(args)
        goal = next(arg for arg in args if not arg.startswith("-"))
        operands = [arg for arg in args[args.index(goal) + 1 :] if not arg.startswith("-")]
        if goal == "peek":
            wanted = [t for t in TARGETS if "::" in operands or t["address"] in operands]
            return json.dumps(wanted, indent=2).splitlines()
        if goal == "dependents":
            return sorted(
                {
                    owner
                    for path in operands
                    for prefix, owner in OWNERS.items()
                    if path.startswith(prefix)
                }
            )
        if goal == "dependencies":
            return []
        if goal == "package":
            by_address = {t["address"]: t for t in TARGETS}
            for address in operands:
                target = by_address[address]
                name = f"127.0.0.1:5000/{target['repository']}:{TAG}"
                labels = dict(target["image_labels"])
                if labels[LABELS[1]] in ("api", "service"):
                    labels["io.unifyops.core-version"] = "0.1.0"
                tiny_image(self.engine, name, f"{self.content} of {address}", labels)
                path, _, target_name = address.partition(":")
                info = Path("dist") / path.replace("/", ".") / f"{target_name}.docker-info.json"
                info.parent.mkdir(parents=True, exist_ok=True)
                tags = [{"tag": TAG, "name": name}]
                registries = [{"address": "127.0.0.1:5000", "repository": target["repository"]}]
                info.write_text(json.dumps({"registries": [{**registries[0], "tags": tags}]}))
            return []
        raise AssertionError(f"uo made an unexpected Pants call: {args}")


class FakeRegistry(BaseHTTPRequestHandler):
    """GET /v2/<repository>/manifests/<tag> and /v2/<repository>/blobs/<digest>."""

    def do_GET(self) -> None:
        path = self.path.removeprefix("/v2/")
        repository, _, rest = path.partition("/manifests/")
        if rest:
            target = next((t for t in TARGETS if t["repository"] == repository), None)
            if target is None:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps({"config": {"digest": f"sha256:{'c' * 64}-{repository}"}})
            self._send(body, digest=digest_of(repository))
            return
        repository, _, _ = path.partition("/blobs/")
        target = next(t for t in TARGETS if t["repository"] == repository)
        labels = dict(target["image_labels"])
        if labels[LABELS[1]] in ("api", "service"):
            labels["io.unifyops.core-version"] = "0.1.0"
        self._send(json.dumps({"config": {"Labels": labels}}))

    def _send(self, body: str, digest: str | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        pass


def digest_of(repository: str) -> str:
    return "sha256:" + repository.split("/")[-1].replace("-", "").ljust(64, "0")[:64]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(
        base_url=os.environ.get("DOCKER_HOST") or "unix:///var/lib/unifyops-docker/docker.sock"
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def started_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayRegistry]:
    with throwaway_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
def registry(started_registry: ThrowawayRegistry, monkeypatch: pytest.MonkeyPatch) -> str:
    """The throwaway registry, standing in for every environment's; logged in."""
    monkeypatch.setenv("UO_REGISTRY", started_registry.address)
    monkeypatch.setenv("DOCKER_CONFIG", str(started_registry.docker_config))
    return started_registry.address


@pytest.fixture
def fake_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(Path.cwd() / "infra/environments", root / "infra/environments")
    shutil.copytree(Path.cwd() / "src/charts", root / "src/charts")
    for folder in OWNERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "README").write_text("a file to change\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@unifyops.invalid")
    git(root, "config", "user.name", "ci")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    monkeypatch.setenv("UO_REPO_ROOT", str(root))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def pants(registry: str, engine: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> FakePants:
    fake = FakePants(engine)  # the same images in every test (the build cache keeps them)
    monkeypatch.setattr(Pants, "run", lambda _pants, *args: fake.run(*args))
    return fake


def change(repo: Path, *folders: str) -> None:
    for folder in folders:
        with (repo / folder / "README").open("a") as file:
            file.write("a one-line change\n")
    git(repo, "commit", "-qam", "a change")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("src/web/user_app/", ("src/web:user_app_image", "user", "app", "unifyops/user-app", None)),
        (
            "src/python/uo_edge/",
            ("src/python/uo_edge:image", "shared", "edge", "unifyops/edge", None),
        ),
        (
            "src/docker/postgres/",
            (
                "src/docker/postgres:image",
                "shared",
                "database",
                "unifyops/postgres",
                "src/docker/postgres/Dockerfile",
            ),
        ),
    ],
)
def test_matrix_takes_stack_and_tier_from_the_target(
    repo: Path,
    pants: FakePants,
    capsys: pytest.CaptureFixture[str],
    folder: str,
    expected: tuple[str, ...],
) -> None:
    change(repo, folder)
    code, out, _ = run(["matrix", "--since", "HEAD~1"], capsys)
    assert code == 0
    assert len(out.splitlines()) == 1  # one line, for $GITHUB_OUTPUT
    keys = ("address", "stack", "tier", "repository", "dockerfile")
    assert json.loads(out) == {"include": [dict(zip(keys, expected, strict=True))]}


def test_affected_json_lists_every_kind_with_its_reasons(
    repo: Path, pants: FakePants, capsys: pytest.CaptureFixture[str]
) -> None:
    change(repo, *OWNERS)
    code, out, _ = run(["affected", "--since", "HEAD~1", "--json"], capsys)
    assert code == 0
    records = json.loads(out)
    assert [(r["stack"], r["tier"]) for r in records] == [
        ("shared", "database"),
        ("user", "api"),
        ("shared", "edge"),
        ("user", "app"),
    ]
    assert set(records[0]) == {"address", "stack", "tier", "repository", "dockerfile", "reasons"}
    assert all(r["reasons"] == ["sources or dependencies changed"] for r in records)


def test_a_base_image_list_selects_the_images_built_on_it(
    repo: Path, pants: FakePants, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "src/docker/base/postgres").mkdir(parents=True)
    (repo / "src/docker/base/postgres/packages.txt").write_text("postgresql-15\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "postgres packages")
    code, out, _ = run(["affected", "--since", "HEAD~1", "--json"], capsys)
    assert code == 0
    assert [(r["address"], r["reasons"]) for r in json.loads(out)] == [
        ("src/docker/postgres:image", ["base image postgres"])
    ]


def test_affected_text_and_nothing_affected(
    repo: Path, pants: FakePants, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "infra/environments/dev/user.yaml").write_text(
        (repo / "infra/environments/dev/user.yaml").read_text() + "# a comment\n"
    )
    git(repo, "commit", "-qam", "infra only")
    assert run(["affected", "--since", "HEAD~1"], capsys)[1] == "no images affected\n"
    assert json.loads(run(["matrix", "--since", "HEAD~1"], capsys)[1]) == {"include": []}
    change(repo, "src/web/user_app/")
    code, out, _ = run(["affected", "--since", "HEAD~1"], capsys)
    assert (code, out.split()[:2]) == (0, ["unifyops/user-app", "src/web:user_app_image"])


def test_publish_then_bump_records_app_and_database_and_reports_the_edge(
    repo: Path, pants: FakePants, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change(repo, "src/web/user_app/", "src/python/uo_edge/", "src/docker/postgres/")
    code, out, _ = run(["publish", "--since", "HEAD~1"], capsys)
    assert code == 0
    packaged = [call for call in pants.calls if "package" in call]
    assert len(packaged) == 1
    assert len(packaged[0]) == 4  # one Pants call for the three images
    manifest = json.loads((repo / "dist/images.json").read_text())["images"]
    assert sorted((i["stack"], i["tier"], i["repository"]) for i in manifest) == [
        ("shared", "database", "unifyops/postgres"),
        ("shared", "edge", "unifyops/edge"),
        ("user", "app", "unifyops/user-app"),
    ]
    assert {(i["registry"], i["tag"]) for i in manifest} == {(registry, TAG)}
    assert "recorded 3 images" in out
    digests = {i["repository"]: i["digest"] for i in manifest}

    code, out, _ = run(["bump", "--env", "dev"], capsys)
    assert code == 0
    assert "shared-edge" in out
    assert "not recorded in infra/" in out
    assert "2 image(s) into dev" in out
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert sorted(changed) == [f"infra/environments/dev/{stack}.yaml" for stack in sorted(STACKS)]
    for stack in STACKS:
        data = YAML().load((repo / f"infra/environments/dev/{stack}.yaml").read_text())
        assert data["database"]["internal"]["image"] == {
            "tag": TAG,
            "digest": digests["unifyops/postgres"],
        }
    user = YAML().load((repo / "infra/environments/dev/user.yaml").read_text())
    assert user["tiers"]["app"]["image"]["digest"] == digests["unifyops/user-app"]
    # dev-latest follows what dev was given; the edge, which dev does not run, has none.
    with Registry(registry) as client:
        for repository in ("unifyops/postgres", "unifyops/user-app"):
            latest = client.manifest(repository, "dev-latest")
            assert latest is not None
            assert latest.digest == digests[repository]
        assert client.manifest("unifyops/edge", "dev-latest") is None
    assert f"tagged {registry}/unifyops/user-app:dev-latest" in out
    assert "edge" not in (repo / "infra/environments/dev/user.yaml").read_text()
    assert run(["bump", "--env", "dev"], capsys)[1].endswith("nothing to commit\n")


def test_publish_named_images_and_build(
    repo: Path, pants: FakePants, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["publish", "--image", "src/python/uo_edge:image"], capsys)
    assert code == 0
    assert "unifyops/edge" in out
    assert "(shared/edge)" in out
    assert run(["build", "--image", "src/docker/postgres:image"], capsys)[0] == 0
    assert ("package", "src/docker/postgres:image") in pants.calls


def test_images_records_what_the_docker_info_files_name(
    repo: Path, fake_registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = fake_registry
    info = repo / "dist/src.web/user_app_image.docker-info.json"
    info.parent.mkdir(parents=True)
    info.write_text(
        json.dumps(
            {
                "registries": [
                    {"address": registry, "repository": "unifyops/user-app", "tags": [{"tag": TAG}]}
                ]
            }
        )
    )
    output = repo / "dist/images.json"
    code, out, _ = run(["images", "--dist", str(repo / "dist"), "--output", str(output)], capsys)
    assert code == 0
    assert out.endswith(f"recorded 1 images in {output}\n")
    (image,) = json.loads(output.read_text())["images"]
    assert (image["stack"], image["tier"], image["digest"]) == (
        "user",
        "app",
        digest_of("unifyops/user-app"),
    )


def test_status_and_where_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["status", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert set(rows[0]) == {"environment", "stack", "tier", "tag", "digest", "core_version"}
    assert {row["tier"] for row in rows} == {"app", "api", "service", "database"}
    assert all(row["core_version"] is None for row in rows if row["tier"] == "database")
    recorded = YAML().load((repo / "infra/environments/dev/user.yaml").read_text())["coreVersion"]
    code, out, _ = run(["where", "core", str(recorded), "--json"], capsys)
    assert code == 0
    assert {"environment": "dev", "stack": "user"} in json.loads(out)
    assert json.loads(run(["where", "core", "9.9.9", "--json"], capsys)[1]) == []


@pytest.mark.parametrize("argv", [["status"], ["where", "core", "0.1.0"]])
def test_read_commands_print_the_same_records_as_yaml(
    repo: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    as_json = json.loads(run([*argv, "-o", "json"], capsys)[1])
    code, out, _ = run([*argv, "--output", "yaml"], capsys)
    assert code == (0 if as_json or argv[0] == "status" else 1)
    assert yaml.safe_load(out) == as_json
    assert json.loads(run([*argv, "--json"], capsys)[1]) == as_json  # --json: -o json


def test_json_and_output_cannot_both_be_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["status", "--json", "-o", "yaml"])
    assert exited.value.code == 2
    assert "argument -o/--output: not allowed with argument --json" in capsys.readouterr().err


def test_promote_carries_the_database_image(
    repo: Path, pants: FakePants, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change(repo, "src/docker/postgres/")
    assert run(["publish", "--since", "HEAD~1"], capsys)[0] == 0
    assert run(["bump", "--env", "dev"], capsys)[0] == 0
    before = YAML().load((repo / "infra/environments/staging/user.yaml").read_text())
    held = before["database"]["internal"]["image"]["tag"][:12]
    code, out, _ = run(["promote", "dev", "staging", "--stack", "user"], capsys)
    assert code == 0
    assert f"staging: user-database {held} -> 0123456789ab" in out  # what runs now -> new
    assert "dry run" in out
    assert run(["promote", "dev", "staging", "--stack", "user", "--yes"], capsys)[0] == 0
    staging = YAML().load((repo / "infra/environments/staging/user.yaml").read_text())
    assert staging["database"]["internal"]["image"]["tag"] == TAG
    with Registry(registry) as client:  # $UO_REGISTRY stands in for staging's registry
        latest = client.manifest("unifyops/postgres", "staging-latest")
        assert latest is not None
        assert latest.digest == staging["database"]["internal"]["image"]["digest"]
    auth = YAML().load((repo / "infra/environments/staging/auth.yaml").read_text())
    assert auth["database"]["internal"]["image"]["tag"] != TAG  # only the chosen stack


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["affected", "--since", "no-such-ref"], "uo affected: 'no-such-ref' is not a commit"),
        (["matrix", "--since", "no-such-ref"], "uo matrix: 'no-such-ref' is not a commit"),
        (["publish", "--since", "no-such-ref"], "uo publish: 'no-such-ref' is not a commit"),
        (["bump", "--env", "dev", "--manifest", "missing.json"], "uo bump: "),
        (["promote", "dev", "dev"], "uo promote: source and target are the same environment"),
        (["images", "--dist", "no-such-dist"], "uo images: no built images under no-such-dist"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    repo: Path,
    pants: FakePants,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == (2 if argv[0] == "promote" else 1)
    lines = [line for line in err.splitlines() if not line.startswith("uo: computing")]
    assert len(lines) == 1, err
    assert lines[0].startswith(message)


def test_a_missing_infra_file_is_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = repo / "images.json"
    manifest.write_text(
        json.dumps({"images": [{"stack": "user", "tier": "app", "tag": TAG, "digest": None}]})
    )
    (repo / "infra/environments/dev/user.yaml").unlink()
    git(repo, "commit", "-qam", "no user stack in dev")
    assert main(["bump", "--env", "dev", "--manifest", str(manifest)]) == 1
    assert capsys.readouterr().err == "uo bump: infra/environments/dev/user.yaml does not exist\n"
    (repo / "infra/environments/staging/env.yaml").unlink()
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("uo status: ")
    assert "env.yaml" in err
    assert err.count("\n") == 1
    assert main(["promote", "staging", "prod"]) == 1
    assert capsys.readouterr().err.startswith("uo promote: ")


def test_a_manifest_with_an_unknown_image_kind_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = repo / "images.json"
    manifest.write_text(json.dumps({"images": [{"stack": "uo", "tier": "edge", "tag": TAG}]}))
    assert main(["bump", "--env", "dev", "--manifest", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("uo bump: ")
    assert "uo/edge is no image of the naming contract" in err


def test_a_pants_failure_is_a_headline_and_its_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(*_: object, **__: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 1, "", "line one\nBUILD error: x\n")

    monkeypatch.setattr(subprocess, "run", failing)
    assert main(["publish", "--image", "src/python/uo_edge:image"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("uo publish: ./pants peek")
    assert "failed (exit 1)" in err[0]
    assert err[1:] == ["line one", "BUILD error: x"]


def test_publish_refuses_to_move_a_sha_tag_and_republishing_is_a_no_op(
    repo: Path, pants: FakePants, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edge = "src/python/uo_edge:image"
    assert run(["publish", "--image", edge], capsys)[0] == 0
    with Registry(registry) as client:
        before = client.manifest("unifyops/edge", TAG)
    assert before is not None
    code, out, _ = run(["publish", "--image", edge], capsys)
    assert code == 0
    assert "already in" in out
    assert "not pushed" in out

    pants.content = "a different build of the same commit"
    code, out, err = run(["publish", "--image", edge], capsys)
    assert code == 1
    assert "\nuo publish: refusing to move SHA tags" in err
    assert f"unifyops/edge:{TAG} is {before.digest}" in err
    with Registry(registry) as client:
        assert client.manifest("unifyops/edge", TAG) == before


@pytest.mark.parametrize("command", ["build", "publish"])
def test_an_address_that_is_no_image_is_refused(
    repo: Path, pants: FakePants, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code = main([command, "--image", "src/python/uo:bin"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"uo {command}: not a docker_image target: src/python/uo:bin")
    assert not [call for call in pants.calls if "package" in call]
