"""`uo affected` selects exactly the images a change affects (precision and recall 1.0).

Every scenario is one commit in a throwaway clone of the repository, compared with its parent;
the clone's own ./pants computes the graph, as in CI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from unifyops_core.naming import PYTHON_TIERS, components
from uo.affected import affected_images
from uo.cli import main
from uo.local.sources import app_target, tier_target

PY = "src/python/unifyops"
IMAGES = {
    **{
        c.name: tier_target(c.stack, c.tier) if c.tier in PYTHON_TIERS else app_target(c.stack)
        for c in components()
    },
    "postgres": "src/docker/postgres:image",
    "edge": "src/python/uo_edge:image",
    "prometheus": "src/docker/prometheus:image",
    "logs": "src/python/uo_logs:image",
}
# Every image on the Python base (the tiers, the edge, the apps' server, the log reader).
PYTHON_IMAGES = {name for name in IMAGES if name not in ("postgres", "prometheus")}
# Every image built on the build base too (a build stage): the tiers and the apps.
BUILD_BASE_IMAGES = PYTHON_IMAGES - {"edge", "logs"}
# What unifyops_core is part of: the api and service tiers.
CORE_IMAGES = {name for name in IMAGES if name.endswith(("-api", "-service"))}
APP_IMAGES = {c.name for c in components() if c.tier == "app"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    source = Path(os.environ["UO_REPO_ROOT"])
    target = tmp_path_factory.mktemp("affected") / "repo"
    git(source.parent, "clone", "-q", "--no-hardlinks", str(source), str(target))
    git(target, "config", "user.email", "test@unifyops.invalid")
    git(target, "config", "user.name", "test")
    yield target
    pid_file = target / ".pants.d/pids/pantsd/pid"
    if pid_file.is_file():  # stop the clone's pantsd
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def append(path: str, text: str = "\n# changed by a test\n") -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        with (repo / path).open("a") as file:
            file.write(text)

    return edit


def bump_lock_pin(project: str) -> Callable[[Path], None]:
    """Change one locked version in the lockfile (the scenario only reads it, never installs)."""

    def edit(repo: Path) -> None:
        lock = repo / "3rdparty/python/default.lock"
        text = lock.read_text()
        header = "\n".join(line for line in text.splitlines() if line.startswith("//"))
        data = json.loads(
            "\n".join(line for line in text.splitlines() if not line.startswith("//"))
        )
        for requirement in data["locked_resolves"][0]["locked_requirements"]:
            if requirement["project_name"] == project:
                requirement["version"] += ".post999"
        lock.write_text(header + "\n" + json.dumps(data, indent=2) + "\n")

    return edit


def bump_debian_pin(base: str, package: str) -> Callable[[Path], None]:
    """Move one package of a base image's Debian lock to another version."""

    def edit(repo: Path) -> None:
        lock = repo / f"src/docker/base/{base}/packages.lock"
        text, count = re.subn(
            rf"(?m)^{re.escape(package)}=(.*)$", rf"{package}=\1+test", lock.read_text()
        )
        assert count == 1, f"{package} is not in {lock}"
        lock.write_text(text)

    return edit


SCENARIOS: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    # The app server imports core's error shape and client address, so apps carry core too.
    "core source": (append("src/python/unifyops_core/redaction.py"), CORE_IMAGES | APP_IMAGES),
    "one service's source": (
        append(f"{PY}/identity/user/user_service/profiles.py"),
        {"user-service"},
    ),
    "a gateway's source": (
        append(f"{PY}/identity/user/user_api/api/routes/profiles.py"),
        {"user-api"},
    ),
    "chart only": (append("src/charts/unifyops-stack/values.yaml"), set()),
    "infra only": (append("infra/environments/dev/user.yaml"), set()),
    "a requirement only auth-service uses": (bump_lock_pin("argon2-cffi"), {"auth-service"}),
    "pants.toml": (append("pants.toml"), set(IMAGES)),
    "the python base image list": (
        append("src/docker/base/python/packages.txt", "# comment\n"),
        PYTHON_IMAGES,
    ),
    "a locked Debian version of the python base": (
        bump_debian_pin("python", "tzdata"),
        PYTHON_IMAGES,
    ),
    "a locked Debian version of the build base": (
        bump_debian_pin("build", "binutils"),
        BUILD_BASE_IMAGES,
    ),
    "the postgres base image list": (
        append("src/docker/base/postgres/packages.txt", "# comment\n"),
        {"postgres"},
    ),
    "the prometheus base image list": (
        append("src/docker/base/prometheus/packages.txt", "# comment\n"),
        {"prometheus"},
    ),
    "the prometheus entry point": (append("src/docker/prometheus/entrypoint.sh"), {"prometheus"}),
    "a test-only file": (append(f"{PY}/identity/user/user_service/service_test.py"), set()),
    "the README": (append("README.md", "\nMore words.\n"), set()),
    "one app's source": (append("src/web/user_app/src/Profile.tsx", "// changed\n"), {"user-app"}),
    "an app's test only": (append("src/web/user_app/src/Profile.test.tsx", "// changed\n"), set()),
    "the shared UI package": (append("src/web/shared/src/Layout.tsx", "// changed\n"), APP_IMAGES),
    "the npm lockfile": (append("src/web/package-lock.json", "\n"), APP_IMAGES),
    "the app server": (append("src/python/uo_appserver/server.py"), APP_IMAGES),
    "the edge": (append("src/python/uo_edge/proxy.py"), {"edge"}),
    # The log reader serves `uo trace`'s view: uo's trace builder is part of it.
    "uo trace's tree builder": (append("src/python/uo/tracing.py"), {"logs"}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_selects_exactly_the_affected_images(clone: Path, scenario: str) -> None:
    edit, expected = SCENARIOS[scenario]
    edit(clone)
    git(clone, "commit", "-qam", f"scenario: {scenario}")
    try:
        selected = {image.address for image in affected_images(clone, "HEAD~1")}
    finally:
        git(clone, "reset", "-q", "--hard", "HEAD~1")
    assert selected == {IMAGES[name] for name in expected}


def test_reasons_name_the_lockfile_requirement(clone: Path) -> None:
    bump_lock_pin("argon2-cffi")(clone)
    git(clone, "commit", "-qam", "pin")
    try:
        (image,) = affected_images(clone, "HEAD~1")
    finally:
        git(clone, "reset", "-q", "--hard", "HEAD~1")
    assert any(re.search(r"argon2-cffi", reason) for reason in image.reasons)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("one app's source", ("src/web:user_app_image", "user", "app", "unifyops/user-app")),
        ("the edge", ("src/python/uo_edge:image", "shared", "edge", "unifyops/edge")),
        (
            "the postgres base image list",
            ("src/docker/postgres:image", "shared", "database", "unifyops/postgres"),
        ),
    ],
)
def test_matrix_reads_stack_and_tier_from_the_target(
    clone: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scenario: str,
    expected: tuple[str, str, str, str],
) -> None:
    """`uo matrix` on real Pants for the image kinds that used to crash it."""
    edit, _ = SCENARIOS[scenario]
    edit(clone)
    git(clone, "commit", "-qam", f"scenario: {scenario}")
    monkeypatch.setenv("UO_REPO_ROOT", str(clone))
    try:
        code = main(["matrix", "--since", "HEAD~1"])
    finally:
        git(clone, "reset", "-q", "--hard", "HEAD~1")
    out, err = capsys.readouterr()
    assert code == 0, err
    (entry,) = json.loads(out)["include"]
    assert (entry["address"], entry["stack"], entry["tier"], entry["repository"]) == expected
