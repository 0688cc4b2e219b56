"""Environment ``test`` on the real engine, in the order a user meets it: the flows through the
front door, isolation from inside the containers, then updates that must not hurt (a failing
migration, an image that never gets ready, a missing image, a rolling update under load).

One file, because Pants runs each test file in its own process and the environment is the
expensive part; the tests run in file order.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from docker.models.containers import Container

from e2e.environment import (
    PASSWORD,
    Running,
    assert_uniform,
    bearer,
    derive,
    register_and_login,
)
from unifyops.identity.user import user_service
from unifyops_core import migrations
from unifyops_core.naming import IMAGE_TIERS, STACKS
from uo.local import accounts, engine, manifests, monitoring, reconcile

PORTS = {"database": 5432, "service": 8001, "api": 8002, "app": 3000}
# Tries a TCP connection to every (address, port) of every target; prints which target answered.
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor

def answers(endpoint):
    try:
        socket.create_connection(tuple(endpoint), timeout=1.5).close()
        return True
    except OSError:
        return False

targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(64) as pool:  # every endpoint at once: one timeout in all, not one each
    futures = {name: [pool.submit(answers, e) for e in ends] for name, ends in targets.items()}
    print(json.dumps({name: any(f.result() for f in fs) for name, fs in futures.items()}))
"""


def unique_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}@example.com"


def test_register_login_update_profile_and_see_the_environments(running: Running) -> None:
    email = unique_email()
    tokens = register_and_login(running, email)
    headers = bearer(tokens["access_token"])

    profile = httpx.get(running.url("user-api", "/v1/profile"), headers=headers)
    assert profile.status_code == 200, profile.text
    assert profile.json()["email"] == email
    updated = httpx.patch(
        running.url("user-api", "/v1/profile"),
        json={"display_name": "Ada", "timezone": "Europe/London"},
        headers={**headers, "If-Match": profile.headers["ETag"]},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["display_name"] == "Ada"

    # A fresh account is a member: environments need the viewer role, granted as `uo grant` does.
    denied = httpx.get(running.url("environment-api", "/v1/environments"), headers=headers)
    assert assert_uniform(denied, 403)["details"] == {"missing_scopes": ["environments:read"]}
    granted = accounts.run_roles(
        running.client, running.plan.environment, ["grant", email, "viewer"]
    )
    assert granted.exit_code == 0, granted.stderr
    refreshed = httpx.post(
        running.url("auth-api", "/v1/auth/refresh"),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    headers = bearer(refreshed.json()["access_token"])
    environments = httpx.get(running.url("environment-api", "/v1/environments"), headers=headers)
    assert environments.status_code == 200, environments.text
    by_name = {env["name"]: env for env in environments.json()}
    assert set(by_name) == {"dev", "staging", "prod"}
    # Versions as the repository's infra files record them (mounted into environment-service).
    recorded = (Path.cwd() / "infra/environments/prod/user.yaml").read_text()
    assert by_name["prod"]["stacks"]["user"]["tiers"]["api"]["tag"] in recorded


def test_every_failure_has_the_uniform_error_shape(running: Running) -> None:
    wrong = httpx.post(
        running.url("auth-api", "/v1/auth/login"),
        json={"email": unique_email(), "password": "not the password"},
    )
    assert assert_uniform(wrong, 401)["error_type"] == "authentication_failed"
    invalid = httpx.post(running.url("auth-api", "/v1/auth/register"), json={"email": "nope"})
    assert_uniform(invalid, 422)
    assert_uniform(httpx.get(running.url("user-api", "/v1/profile")), 401)
    assert_uniform(httpx.get(running.url("environment-api", "/v1/environments")), 401)


def test_the_operator_login_works(running: Running) -> None:
    assert running.outcome.login is not None
    email, password = running.outcome.login
    login = httpx.post(
        running.url("auth-api", "/v1/auth/login"), json={"email": email, "password": password}
    )
    assert login.status_code == 200, login.text
    # The bootstrap operator is admin: environment reads and role management are open to it.
    headers = bearer(login.json()["access_token"])
    environments = httpx.get(running.url("environment-api", "/v1/environments"), headers=headers)
    assert environments.status_code == 200, environments.text
    roles = httpx.get(running.url("auth-api", "/v1/auth/roles"), headers=headers)
    assert roles.status_code == 200, roles.text


def test_the_apps_in_a_real_browser(running: Running) -> None:
    """src/web/browser/flows.test.mjs in headless Chromium against this environment's apps.

    It runs from the checkout (UO_REPO_ROOT), where the README's test command installed the npm
    workspace; screenshots land in dist/test/screenshots there.
    """
    repo = Path(os.environ["UO_REPO_ROOT"])
    script = repo / "src/web/browser/flows.test.mjs"
    assert running.outcome.login is not None
    assert (repo / "src/web/node_modules/playwright-core").is_dir(), "run npm ci in src/web first"
    assert Path("/usr/bin/chromium").is_file(), (
        "Debian's chromium is needed (build-support/run-tests installs it)"
    )
    env = {
        **os.environ,
        "UO_AUTH_APP": running.url("auth-app"),
        "UO_USER_APP": running.url("user-app"),
        "UO_ENVIRONMENT_APP": running.url("environment-app"),
        "UO_SCREENSHOT_DIR": str(repo / "dist/test/screenshots"),
        "UO_OPERATOR_EMAIL": running.outcome.login[0],
        "UO_OPERATOR_PASSWORD": running.outcome.login[1],
    }
    result = subprocess.run(
        ["node", "--test", "--test-reporter=tap", str(script)],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# pass 6" in result.stdout, result.stdout[-2000:]
    assert "# fail 0" in result.stdout, result.stdout[-2000:]


def test_each_app_serves_its_bundle_and_forwards_to_its_own_gateway(running: Running) -> None:
    for stack in STACKS:
        page = httpx.get(running.url(f"{stack}-app", "/"))
        assert page.status_code == 200
        assert '<div id="root">' in page.text
        relayed = httpx.post(
            running.url(f"{stack}-app", "/api/v1/auth/login"),
            json={"email": unique_email(), "password": "not the password"},
        )
        assert assert_uniform(relayed, 401)["error_type"] == "authentication_failed"


# -- isolation ---------------------------------------------------------------------------------


def _endpoints(container: Container, port: int) -> list[tuple[str, int]]:
    container.reload()
    networks = container.attrs["NetworkSettings"]["Networks"].values()
    return [(net["IPAddress"], port) for net in networks if net.get("IPAddress")]


def _targets(running: Running) -> dict[str, list[tuple[str, int]]]:
    """Every tier of every stack, by every address it has, on its listening port; and the
    environment's Prometheus on its API port (only the environment service may query it)."""
    targets = {
        f"{stack}-{tier}": _endpoints(running.container(stack, tier), port)
        for stack in STACKS
        for tier, port in PORTS.items()
    }
    prometheus = running.container(monitoring.STACK, monitoring.PROMETHEUS)
    targets[monitoring.PROMETHEUS] = _endpoints(prometheus, monitoring.PORT)
    return targets


def _probe_from(container: Container, targets: dict[str, list[tuple[str, int]]]) -> set[str]:
    result = container.exec_run(["python3", "-c", PROBE, json.dumps(targets)])
    assert result.exit_code == 0, result.output
    answered: dict[str, bool] = json.loads(result.output.decode().strip().splitlines()[-1])
    return {name for name, ok in answered.items() if ok}


@pytest.fixture(scope="module")
def allowed(running: Running) -> set[tuple[str, str]]:
    """(source, target) pairs the rendered NetworkPolicies allow (uo.netpolicy's model)."""
    return {(source, target) for source, target, _, _ in running.topology().allowed}


SOURCES = [(stack, tier) for stack in STACKS for tier in IMAGE_TIERS]


@pytest.mark.parametrize(("stack", "tier"), [*SOURCES, ("platform", "edge")])
def test_each_container_reaches_exactly_what_the_network_policies_allow(
    running: Running, allowed: set[tuple[str, str]], stack: str, tier: str
) -> None:
    """Both directions: a callee cannot open its caller's port, callers of one server cannot
    reach each other, and no hop the policies allow is missing."""
    source = "edge" if tier == "edge" else f"{stack}-{tier}"
    targets = _targets(running)
    reached = _probe_from(running.container(stack, tier), targets)
    expected = {target for src, target in allowed if src == source and target in targets}
    assert reached - {source} == expected


def test_the_model_is_not_vacuous(allowed: set[tuple[str, str]]) -> None:
    assert ("user-api", "user-service") in allowed
    assert ("user-service", "user-api") not in allowed
    assert ("user-app", "edge") not in allowed
    assert ("environment-service", "prometheus") in allowed
    assert ("environment-api", "prometheus") not in allowed


def test_every_rendered_workload_runs_as_rendered_and_every_hook_ran(running: Running) -> None:
    """What runs is what the chart renders: each Deployment/StatefulSet as many running
    containers as its replicas, with the rendered command, args and literal env; each hook Job
    a container that ran to exit code 0."""
    objects, _ = reconcile.rendered_objects(running.client, running.plan)
    items = manifests.workloads(objects)
    assert {item.stack for item in items} == set(STACKS)
    for item in items:
        containers = engine.containers(
            running.client, running.plan.environment, stack=item.stack, tier=item.tier
        )
        if item.is_job:
            assert any(
                c.status == "exited" and c.attrs["State"]["ExitCode"] == 0 for c in containers
            ), (item.workload_id, [(c.name, c.status) for c in containers])
            continue
        serving = [c for c in containers if c.status == "running"]
        assert len(serving) == item.replicas, (item.workload_id, [c.name for c in containers])
        rendered = item.container
        for container in serving:
            config = container.attrs["Config"]
            if rendered.get("command"):
                assert config["Entrypoint"] == list(rendered["command"]), item.workload_id
            if rendered.get("args"):
                assert config["Cmd"] == list(rendered["args"]), item.workload_id
            env = set(config["Env"] or [])
            for variable in rendered.get("env") or []:
                if "value" in variable:
                    assert f"{variable['name']}={variable['value']}" in env, (
                        item.workload_id,
                        variable,
                    )


def test_no_service_reaches_another_stacks_database(running: Running) -> None:
    targets = _targets(running)
    for stack in STACKS:
        reached = _probe_from(running.container(stack, "service"), targets)
        assert {name for name in reached if name.endswith("-database")} == {f"{stack}-database"}


def test_every_container_runs_read_only_as_non_root_without_capabilities(
    running: Running,
) -> None:
    for stack in STACKS:
        for tier in PORTS:
            config = running.container(stack, tier).attrs
            host = config["HostConfig"]
            assert config["Config"]["User"] == "10001:10001", (stack, tier)
            assert host["ReadonlyRootfs"] is True, (stack, tier)
            assert host["CapDrop"] == ["ALL"], (stack, tier)
            assert "no-new-privileges" in (host.get("SecurityOpt") or []), (stack, tier)
            assert host["Memory"] > 0, (stack, tier)


# -- updates -------------------------------------------------------------------------------------


def _running_ids(running: Running) -> dict[str, str]:
    return {
        f"{stack}-{tier}": running.container(stack, tier).id
        for stack in STACKS
        for tier in ("database", "service", "api", "app")
    }


def test_a_second_up_changes_nothing(running: Running) -> None:
    before = _running_ids(running)
    outcome = running.up()
    assert outcome.changes == []
    assert _running_ids(running) == before


def _signed_in(running: Running, seconds: float = 60) -> dict[str, str]:
    """A fresh account's tokens. Retried: the load starts while `up` may be rolling the auth
    stack too, and this loop measures the user stack, not sign-in."""
    email, deadline = unique_email(), time.monotonic() + seconds
    auth = running.url("auth-api", "/v1/auth")
    credentials = {"email": email, "password": PASSWORD}
    registered = False
    while True:
        try:
            if not registered:
                answer = httpx.post(f"{auth}/register", json=credentials)
                registered = answer.status_code in (201, 409)  # 409: an earlier try got through
            if registered:
                answer = httpx.post(f"{auth}/login", json=credentials)
                if answer.status_code == 200:
                    tokens: dict[str, str] = answer.json()
                    return tokens
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "no sign-in within the minute"
        time.sleep(1)


def _profile_loop(
    running: Running, stop: threading.Event, results: Counter[str], limit: int = 4000
) -> None:
    """Authenticated profile reads through edge → api → service → PostgreSQL, one new connection
    per request, until ``stop`` (bounded by ``limit`` requests)."""
    tokens = _signed_in(running)
    url = running.url("user-api", "/v1/profile")
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=15, limits=limits, headers=bearer(tokens["access_token"])) as http:
        for _ in range(limit):
            if stop.is_set():
                return
            try:
                response = http.get(url)
                ok = response.status_code == 200 and "email" in response.json()
                results["ok" if ok else f"status {response.status_code}"] += 1
            except (httpx.HTTPError, ValueError) as exc:
                results[type(exc).__name__] += 1


def _under_load(running: Running, action: object, workers: int = 4) -> Counter[str]:
    stop, results = threading.Event(), Counter[str]()
    threads = [
        threading.Thread(target=_profile_loop, args=(running, stop, results))
        for _ in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        assert callable(action)
        action()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return results


def _broken_migration() -> tuple[str, bytes]:
    """A real Alembic revision on top of the user service's head that fails in PostgreSQL."""
    versions = Path(user_service.__file__).parent / "migrations"
    (head,) = migrations.heads(versions)
    source = f'''
from alembic import op

revision = "e2e_broken"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE no_such_table ADD COLUMN never integer")


def downgrade() -> None:
    pass
'''
    return "9999_e2e_broken.py", source.encode()


def test_a_failing_migration_leaves_the_old_version_serving(running: Running) -> None:
    before = _running_ids(running)
    name, source = _broken_migration()
    site = "/app/venv/lib/python3.11/site-packages/unifyops/identity/user/user_service"
    broken = derive(
        running.client,
        running.images()["user"].service,
        "user-service-broken-migration",
        [f"COPY {name} {site}/migrations/versions/{name}"],
        {name: source},
    )

    def attempt() -> None:
        with pytest.raises(reconcile.RolloutError, match="user: migrations failed") as failure:
            running.up(images=running.with_image("user", service=broken))
        assert "no_such_table" in str(failure.value)
        assert "keeps serving" in str(failure.value)

    results = _under_load(running, attempt)
    assert results["ok"] > 0
    assert set(results) == {"ok"}, results
    assert _running_ids(running) == before  # the new service never started


def test_an_image_that_never_gets_ready_gets_no_traffic(running: Running) -> None:
    before = _running_ids(running)
    # Answers HTTP on the api's port, but 404 on /health/ready: never ready.
    unready = derive(
        running.client,
        running.images()["user"].api,
        "user-api-unready",
        ['ENTRYPOINT ["python3", "-m", "http.server", "8002"]', "CMD []"],
    )

    def attempt() -> None:
        with pytest.raises(reconcile.RolloutError, match="never became ready") as failure:
            running.up(images=running.with_image("user", api=unready), ready_timeout=8)
        assert "keeps serving" in str(failure.value)

    results = _under_load(running, attempt)
    assert results["ok"] > 0
    assert set(results) == {"ok"}, results  # every answer came from the old version
    assert _running_ids(running) == before


def test_a_missing_image_stops_nothing(running: Running) -> None:
    before = _running_ids(running)
    missing = "127.0.0.1:5000/unifyops/user-api:no-such-tag"
    with pytest.raises(reconcile.MissingImageError, match="no-such-tag"):
        running.up(images=running.with_image("user", api=missing))
    assert _running_ids(running) == before


def test_a_rolling_update_under_load_fails_no_request(running: Running) -> None:
    images = running.images()["user"]
    new_service = derive(
        running.client, images.service, "user-service-next", ["ENV UO_E2E_GENERATION=next"]
    )
    new_api = derive(running.client, images.api, "user-api-next", ["ENV UO_E2E_GENERATION=next"])
    before = _running_ids(running)

    results = _under_load(
        running,
        lambda: running.up(images=running.with_image("user", service=new_service, api=new_api)),
    )

    assert results["ok"] > 0
    assert set(results) == {"ok"}, results
    after = _running_ids(running)
    assert after["user-service"] != before["user-service"]
    assert after["user-api"] != before["user-api"]
    assert running.container("user", "service").image.id == new_service
    assert running.container("user", "api").image.id == new_api
    # Everything else was left alone.
    unchanged = {k: v for k, v in after.items() if k not in ("user-service", "user-api")}
    assert unchanged == {k: v for k, v in before.items() if k in unchanged}
