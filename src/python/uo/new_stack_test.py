"""`uo new stack` and `uo new migration` in a throwaway clone of this repository: the generated
stack passes lint, `pants tailor --check` and mypy, its own tests on real PostgreSQL, the
registry's guards and the chart render, and comes up beside the auth stack serving its items
through every tier, without a hand edit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from uo.charts import read_pin, write_pin
from uo.cli import main
from uo.new_stack import child_path
from uo.repo import find_repo_root

DOMAIN, STACK = "demo", "widget"
SERVICE = f"src/python/unifyops/{DOMAIN}/{STACK}/{STACK}_service"
GIT = ["git", "-c", "user.email=test@unifyops.invalid", "-c", "user.name=test"]
RELEASED = "0123456789abcdef0123456789abcdef01234567"
# Long enough that Alembic's add_column call passes the line length.
COLUMN = "colour_shown_next_to_the_item_in_every_list"
UO = "import sys; from uo.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(clone: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command on the clone's own code (its registry lists the new stack; ours does not)."""
    env = {
        **os.environ,
        # `uo bump` commits in the clone.
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@unifyops.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@unifyops.invalid",
        "UO_REPO_ROOT": str(clone),
        "PYTHONPATH": os.pathsep.join([str(clone / "tests"), child_path(clone)]),
    }
    return subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True)


def _ruff() -> list[str]:
    found = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    return [found] if Path(found).is_file() else [sys.executable, "-m", "ruff"]


def _status(clone: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("repo") / "clone"
    subprocess.run(["git", "clone", "-q", str(find_repo_root()), str(target)], check=True)
    previous = os.environ.get("UO_REPO_ROOT")
    os.environ["UO_REPO_ROOT"] = str(target)
    try:
        assert main(["new", "stack", f"{DOMAIN}/{STACK}"]) == 0
    finally:
        if previous is None:
            del os.environ["UO_REPO_ROOT"]
        else:
            os.environ["UO_REPO_ROOT"] = previous
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)  # committable, as a user would
    return target


def test_writes_the_slice_and_its_infra(clone: Path) -> None:
    for path in [
        f"{SERVICE}/main.py",
        f"{SERVICE}/BUILD",
        f"src/python/unifyops/{DOMAIN}/{STACK}/BUILD",
        f"{SERVICE}/migrations/versions/0001_initial.py",
        f"src/python/unifyops/{DOMAIN}/{STACK}/{STACK}_api/main.py",
        f"src/web/{STACK}_app/src/Items.tsx",
        *(f"infra/environments/{env}/{STACK}.yaml" for env in ("dev", "staging", "prod")),
        *(f"infra/environments/{env}/sealed/{STACK}.yaml" for env in ("dev", "staging", "prod")),
    ]:
        assert (clone / path).is_file(), path
    # main.py is the tier kit's factory plus a command line, not copied scaffolding.
    assert len((clone / SERVICE / "main.py").read_text().splitlines()) < 60


def test_uo_affected_selects_exactly_its_images(clone: Path) -> None:
    """The generator's commit, compared with its parent by the clone's own Pants (as in CI): the
    new stack's three images, and the environment stack's api and service, whose StackName (the
    stack list they validate at run time) the generator extends. The registry and the web
    workspace's lists change no other image (uo.affected.registrations)."""
    subprocess.run([*GIT, "commit", "-qm", f"new stack {STACK}"], cwd=clone, check=True)
    # The child's path is set at start-up; Pants (another Python) must not inherit it. No daemon
    # is left behind in the clone.
    code = f"import os; os.environ.pop('PYTHONPATH'); os.environ['PANTS_PANTSD'] = 'false'; {UO}"
    done = _run(clone, sys.executable, "-c", code, "affected", "--since", "HEAD~1", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    selected = {image["address"]: image["reasons"] for image in json.loads(done.stdout)}
    stack_dir = f"src/python/unifyops/{DOMAIN}/{STACK}"
    assert set(selected) == {
        f"{stack_dir}/{STACK}_api:image",
        f"{stack_dir}/{STACK}_service:image",
        f"src/web:{STACK}_app_image",
        "src/python/unifyops/platform/environment/environment_api:image",
        "src/python/unifyops/platform/environment/environment_service:image",
    }, selected


def test_generated_python_is_lint_clean(clone: Path) -> None:
    paths = ["src/python/unifyops", "tests"]
    check = _run(clone, *_ruff(), "check", *paths)
    assert check.returncode == 0, check.stdout + check.stderr
    formatted = _run(clone, *_ruff(), "format", "--check", *paths)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_pants_tailor_and_type_checks_pass(clone: Path) -> None:
    """What CI's lint step runs, in the clone: no BUILD file missing or unformatted anywhere, and
    mypy (strict, tests included) on the new stack and on the environment stack it extended."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PANTS_PANTSD": "false", "UO_REPO_ROOT": str(clone)})  # no daemon left behind

    def pants(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["./pants", *argv], cwd=clone, env=env, capture_output=True, text=True
        )

    tailor = pants("tailor", "--check", "update-build-files", "--check", "::")
    assert tailor.returncode == 0, tailor.stdout[-3000:] + tailor.stderr[-3000:]
    checked = pants(
        "check", f"src/python/unifyops/{DOMAIN}/{STACK}::", "src/python/unifyops/platform::"
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert "Success: no issues found" in checked.stdout + checked.stderr


def test_the_registry_lists_it(clone: Path) -> None:
    listed = _run(
        clone, sys.executable, "-c", "from unifyops_core import naming; print(naming.STACKS)"
    )
    assert f"'{STACK}': '{DOMAIN}'" in listed.stdout, listed.stderr


def test_its_own_tests_pass_on_postgresql(clone: Path) -> None:
    folder = f"src/python/unifyops/{DOMAIN}/{STACK}"
    done = _run(clone, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout


def test_the_registry_guards_pass(clone: Path) -> None:
    done = _run(
        clone, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "tests/repo/stack_registry_test.py", "tests/infra/infra_files_test.py",
        "tests/release/core_pins_test.py",
        # Every infra file renders into valid objects, the unreleased stack's included.
        "tests/charts/render_test.py::test_every_environment_and_stack_is_rendered",
        "tests/charts/render_test.py::test_objects_validate_against_the_kubernetes_schema",
        "tests/release/recorded_releases_test.py",
        "src/python/unifyops/platform/environment/environment_service/schemas_test.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_chart_refuses_it_until_its_first_release(clone: Path, env: str) -> None:
    """No image of the stack exists before the release loop: `uo render` (and so `uo up --env`
    and Argo CD, which render the same chart) refuses the file, saying so; once `uo bump` records
    the images, it renders. The chart takes any stack name, so dev (which runs main's chart)
    needs no chart release; staging and prod pin a chart from before that, which they are told
    to promote."""
    render = (sys.executable, "-c", UO, "render", "--env", env, "--stack", STACK)
    refused = _run(clone, *render)
    assert refused.returncode != 0
    if env == "dev":
        assert (
            f"stack {STACK} has no released images in {env} yet: run the release loop "
            f"(uo publish, then uo bump --env {env})"
        ) in refused.stderr
    else:
        assert f"uo render: {env} runs chart 0.2.0 from commit " in refused.stderr
        assert (
            f"which predates stack {STACK} (it accepts only auth, user, environment): pin a "
            f"newer chart there first (uo chart bump --env {env} pins the tree's, once "
            "published; uo promote carries another environment's with its images)"
        ) in refused.stderr
        dev = read_pin(clone, "dev")  # what `uo promote` carries, the chart's pin among it
        write_pin(clone, env, replace(read_pin(clone, env), version=dev.version, digest=dev.digest))

    if _status(clone):
        subprocess.run([*GIT, "commit", "-qam", f"new stack {STACK}"], cwd=clone, check=True)
    images = [
        {"stack": STACK, "tier": tier, "tag": RELEASED, "repository": f"unifyops/{STACK}-{tier}"}
        for tier in ("app", "api", "service")
    ]
    manifest = clone.parent / f"images-{env}.json"
    manifest.write_text(json.dumps({"images": images}))
    bump = ("bump", "--env", env, "--manifest", str(manifest), "--no-latest")
    bumped = _run(clone, sys.executable, "-c", UO, *bump)
    assert bumped.returncode == 0, bumped.stderr
    done = _run(clone, *render)
    assert done.returncode == 0, done.stderr
    assert f"name: {STACK}-api" in done.stdout
    assert f"unifyops/{STACK}-api:{RELEASED}" in done.stdout
    assert "kind: StatefulSet" in done.stdout


def test_dry_run_lists_and_writes_nothing(clone: Path) -> None:
    before = _status(clone)
    done = _run(clone, sys.executable, "-c", UO, "new", "stack", "demo/gadget", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would write python:" in done.stdout
    assert "src/web/gadget_app/src/App.tsx" in done.stdout
    assert _status(clone) == before


def test_a_migration_from_a_model_change(clone: Path) -> None:
    versions = clone / SERVICE / "migrations/versions"
    unchanged = _run(clone, sys.executable, "-c", UO, "new", "migration", STACK, "nothing")
    assert unchanged.returncode == 0, unchanged.stderr
    assert "no changes" in unchanged.stdout
    assert sorted(p.name for p in versions.glob("*.py")) == ["0001_initial.py"]

    models = clone / SERVICE / "models.py"
    models.write_text(
        models.read_text().replace(
            "    version: Mapped[int]",
            f'    {COLUMN}: Mapped[str] = mapped_column(String(20), default="")\n'
            "    version: Mapped[int]",
        )
    )
    added = _run(clone, sys.executable, "-c", UO, "new", "migration", STACK, "Add item colour")
    assert added.returncode == 0, added.stderr
    written = versions / "0002_add_item_colour.py"
    assert "add_column" in written.read_text()
    # Alembic's one-line call is too long; `uo new migration` splits it as ruff would, with no
    # ruff to run (the built `uo` has none).
    assert f'            "{COLUMN}",\n' in written.read_text()
    assert 'down_revision = "0001"' in written.read_text()
    migration_test = _run(
        clone, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        f"{SERVICE}/migrations_test.py",
    )  # fmt: skip
    assert migration_test.returncode == 0, migration_test.stdout[-3000:]
    assert _run(clone, *_ruff(), "format", "--check", str(written)).returncode == 0


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("BadName", "expected <domain>/<name>"),
        ("demo/BadName", "lowercase letters and digits"),
        ("demo/1st", "starting with a letter"),
        ("demo/with-dash", "lowercase letters and digits"),
        ("Demo/widget", "domain 'Demo'"),
        ("demo/user", "already exists"),
        ("demo/shared", "reserved"),
        ("demo/class", "reserved"),
        ("demo/" + "a" * 39, "at most 38"),
    ],
)
def test_bad_names_are_one_line_and_exit_2(
    name: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "stack", name]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


# `uo up`'s build and reconciler, run by the clone's code (it knows the new stack; this process
# does not), as environment `scratch`: beside the e2e tests' `test`, never a developer's `local`.
UP = """
import json, os, sys
from pathlib import Path
os.environ.pop("PYTHONPATH")  # ./pants (another Python) must not inherit the clone's path
os.environ["PANTS_PANTSD"] = "false"  # no daemon left behind in the clone
from uo.local import engine, reconcile, sources
repo, client = Path.cwd(), engine.connect()
images, edge = sources.build_working_tree(repo, ["auth", sys.argv[1]], print, client)
plan = reconcile.Plan("scratch", images, edge, repo=str(repo), ready_timeout=120)
print("URLS " + json.dumps(reconcile.up(client, plan, print).urls))
"""


def test_it_comes_up_beside_auth_and_serves_through_every_tier(clone: Path) -> None:
    """The generated stack built by Pants and run from the rendered chart with the auth stack;
    its example resource works app -> api -> service -> database with a real token."""
    import httpx

    from uo.local import engine, reconcile

    client = engine.connect()
    reconcile.down(client, "scratch", volumes=True, report=print)  # an aborted run's leftovers
    try:
        up = _run(clone, sys.executable, "-c", UP, STACK)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        urls = json.loads(up.stdout.split("URLS ", 1)[1].splitlines()[0])
        assert {f"{STACK}-app", f"{STACK}-api", "auth-api"} <= set(urls), urls

        account = {"email": "widget-owner@example.com", "password": "a long enough passphrase"}
        auth = urls["auth-api"]
        assert httpx.post(f"{auth}/v1/auth/register", json=account, timeout=30).status_code == 201
        login = httpx.post(f"{auth}/v1/auth/login", json=account, timeout=30)
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}

        app = urls[f"{STACK}-app"]
        page = httpx.get(app, timeout=30)
        assert page.status_code == 200
        assert "<div id=" in page.text
        created = httpx.post(
            f"{app}/api/v1/items", json={"name": "first widget"}, headers=bearer, timeout=30
        )
        assert created.status_code == 201, created.text
        item = created.json()
        read = httpx.get(f"{urls[f'{STACK}-api']}/v1/items/{item['id']}", headers=bearer)
        assert read.status_code == 200
        assert read.json()["name"] == "first widget"
        renamed = httpx.patch(
            f"{app}/api/v1/items/{item['id']}",
            json={"name": "renamed"},
            headers={**bearer, "If-Match": read.headers["ETag"]},
            timeout=30,
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["version"] == item["version"] + 1
        stale = httpx.patch(
            f"{app}/api/v1/items/{item['id']}",
            json={"name": "lost update"},
            headers={**bearer, "If-Match": read.headers["ETag"]},
            timeout=30,
        )
        assert stale.status_code == 412
        assert {"error_id", "error_type", "message"} <= set(stale.json())
        anonymous = httpx.get(f"{app}/api/v1/items", timeout=30)
        assert anonymous.status_code == 401
        listed = httpx.get(f"{app}/api/v1/items", headers=bearer, timeout=30)
        assert [i["name"] for i in listed.json()["items"]] == ["renamed"]
    finally:
        reconcile.down(client, "scratch", volumes=True, report=print)
