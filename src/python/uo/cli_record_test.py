"""`uo bump --record` and `uo promote --record` through ``uo.cli.main(argv)`` against the real
environment-api and environment-service, each served by uvicorn on loopback, on a real
PostgreSQL; the deployer's sign-in against the real auth-api and auth-service.

Nothing is faked but the issuer of *service* tokens between the gateways and their services
(TokenEndpoint, a real client-credentials endpoint with a test key), and, for the bearer-token
cases, the user tokens (minted with a key environment-api trusts). Git, the infra files and the
commits are real (a throwaway repository holding a copy of infra/).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from unifyops.identity.auth.auth_api.config import Settings as AuthApiSettings
from unifyops.identity.auth.auth_api.main import create_app as create_auth_api
from unifyops.identity.auth.auth_service import roles_cli
from unifyops.identity.auth.auth_service.clients import register_client
from unifyops.identity.auth.auth_service.config import Settings as AuthServiceSettings
from unifyops.identity.auth.auth_service.main import create_app as create_auth_service
from unifyops.identity.auth.auth_service.main import migrate as migrate_auth
from unifyops.platform.environment.environment_api.config import Settings as ApiSettings
from unifyops.platform.environment.environment_api.main import create_app as create_api
from unifyops.platform.environment.environment_service.config import Settings as ServiceSettings
from unifyops.platform.environment.environment_service.main import create_app as create_service
from unifyops.platform.environment.environment_service.main import migrate
from unifyops_core.db import DatabaseSettings
from unifyops_core.keys import StaticKeys
from unifyops_core.service_tokens import ServiceTokenProvider
from unifyops_core.testing import SigningKey
from unifyops_core.testing_db import (
    create_test_database,
    drop_test_database,
    free_port,
    serve_on_loopback,
)
from unifyops_core.token_endpoint_testutil import TokenEndpoint
from uo.cli import main
from uo.errors import EXIT_NOT_RECORDED, EXIT_USAGE

TAG = "0123456789abcdef0123456789abcdef01234567"
DEPLOYER = "deployer-1"
DEPLOYER_EMAIL, DEPLOYER_PASSWORD = "release@example.com", "a release password for tests"
GATEWAY_SECRET = "auth-api-secret-for-tests"


def digest(name: str) -> str:
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def database() -> Iterator[DatabaseSettings]:
    settings = asyncio.run(create_test_database())
    yield settings
    asyncio.run(drop_test_database(settings))


@dataclass
class EnvironmentApi:
    url: str
    user_key: SigningKey
    auth_url: str | None = None

    def token(self, *scopes: str) -> str:
        return self.user_key.mint(sub=DEPLOYER, scope=" ".join(scopes))

    def history(self, environment: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}/v1/deployments",
            params={"environment": environment},
            headers={"Authorization": f"Bearer {self.token('environments:read')}"},
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()
        return events


@pytest.fixture
def environment_api(database: DatabaseSettings) -> Iterator[EnvironmentApi]:
    """environment-api in front of environment-service, both on loopback (real HTTP)."""
    settings = ServiceSettings(database=database, infra_path=Path.cwd() / "infra/environments")
    migrate(settings)
    endpoint = TokenEndpoint(client_id="environment-api")
    service = create_service(settings, keys=StaticKeys([endpoint.key.public_jwk()]))
    user_key = SigningKey()
    with serve_on_loopback(service) as service_url:
        api = create_api(
            ApiSettings(service_url=service_url),
            keys=StaticKeys([user_key.public_jwk()]),
            token_provider=ServiceTokenProvider(
                token_url="http://auth/oauth/token",
                client_id="environment-api",
                client_secret="s3cret-for-tests",
                http=endpoint.http,
            ),
        )
        with serve_on_loopback(api) as url:
            yield EnvironmentApi(url, user_key)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(Path.cwd() / "infra/environments", root / "infra/environments")
    shutil.copytree(Path.cwd() / "src/charts", root / "src/charts")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@unifyops.invalid")
    git(root, "config", "user.name", "ci")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    monkeypatch.setenv("UO_REPO_ROOT", str(root))
    monkeypatch.chdir(root)
    for variable in ("UO_RECORD_URL", "UO_AUTH_URL", "UO_DEPLOYER_EMAIL", "UO_DEPLOYER_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("UO_DEPLOY_TOKEN", raising=False)
    images = [
        {
            "stack": stack,
            "tier": tier,
            "core_version": core,
            "tag": TAG,
            "digest": digest(f"{stack}-{tier}"),
        }
        for stack, tier, core in (
            ("user", "api", "0.2.0"),
            ("user", "service", "0.2.0"),
            ("shared", "database", None),
        )
    ]
    (root / "images.json").write_text(json.dumps({"images": images}))
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def bump(url: str) -> list[str]:
    return ["bump", "--env", "dev", "--manifest", "images.json", "--no-latest", "--record", url]


def test_bump_records_each_tier_the_commit_changed_once(
    repo: Path,
    environment_api: EnvironmentApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UO_DEPLOY_TOKEN", environment_api.token("deployments:write"))
    code, out, err = run(bump(environment_api.url), capsys)
    assert code == 0, err
    commit = git(repo, "rev-parse", "HEAD")
    assert "recorded dev: user-api 0123456789ab" in out
    history = environment_api.history("dev")
    recorded = {(e["stack"], e["tier"]) for e in history}
    # The user stack's tiers, and the database image in every stack file that runs one.
    assert {("user", "api"), ("user", "service"), ("user", "database")} <= recorded
    assert ("user", "app") not in recorded  # the commit did not change it
    assert {e["git_commit"] for e in history} == {commit}
    assert {e["actor"] for e in history} == {DEPLOYER}
    api = next(e for e in history if (e["stack"], e["tier"]) == ("user", "api"))
    assert (api["tag"], api["digest"], api["core_version"]) == (
        TAG,
        digest("user-api"),
        "0.2.0",
    )
    database = next(e for e in history if (e["stack"], e["tier"]) == ("user", "database"))
    assert (database["digest"], database["core_version"]) == (digest("shared-database"), None)

    # The same command again: nothing to commit, every record answered "already recorded".
    code, out, _ = run(bump(environment_api.url), capsys)
    assert code == 0
    assert "nothing to commit" in out
    assert "already recorded dev: user-api" in out
    assert "recorded dev" not in out.replace("already recorded dev", "")
    assert len(environment_api.history("dev")) == len(history)
    assert git(repo, "rev-parse", "HEAD") == commit


def test_promote_records_the_promoted_tiers_in_the_target(
    repo: Path,
    environment_api: EnvironmentApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UO_RECORD_URL", environment_api.url)  # the variable stands for --record
    monkeypatch.setenv("UO_DEPLOY_TOKEN", environment_api.token("deployments:write"))
    assert run(["bump", "--env", "dev", "--manifest", "images.json", "--no-latest"], capsys)[0] == 0
    argv = ["promote", "dev", "staging", "--stack", "user", "--yes", "--no-latest"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "recorded staging: user-service 0123456789ab" in out
    staging = environment_api.history("staging")
    assert {(e["stack"], e["tier"]) for e in staging} >= {("user", "api"), ("user", "service")}
    assert {e["git_commit"] for e in staging} == {git(repo, "rev-parse", "HEAD")}
    assert all(e["stack"] == "user" for e in staging)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("server down", "ConnectError"),
        ("not environment-api", "404"),
        ("no valid token", "401"),
        ("no deployments:write", "the account needs the deployer role"),
    ],
)
def test_a_failed_record_keeps_the_commit_and_exits_3_and_a_rerun_records(
    repo: Path,
    environment_api: EnvironmentApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    expected: str,
) -> None:
    url, token = environment_api.url, environment_api.token("deployments:write")
    if case == "server down":
        url = f"http://127.0.0.1:{free_port()}"
    elif case == "not environment-api":
        url = f"{url}/somewhere-else"
    elif case == "no valid token":
        token = SigningKey().mint(sub=DEPLOYER, scope="deployments:write")  # unknown key
    else:
        token = environment_api.token("environments:read")
    monkeypatch.setenv("UO_DEPLOY_TOKEN", token)
    before = git(repo, "rev-parse", "HEAD")
    code, out, err = run(bump(url), capsys)
    assert code == EXIT_NOT_RECORDED == 3
    # One line from uo (the in-process servers may log to the same stream).
    [line] = [line for line in err.splitlines() if line.startswith("uo bump:")]
    assert line.startswith("uo bump: warning: the infra commit is kept"), err
    assert expected in line
    commit = git(repo, "rev-parse", "HEAD")
    assert commit != before
    assert "committed" in out
    assert environment_api.history("dev") == []

    # Fixed and re-run: nothing to commit, the commit's deployments are recorded.
    monkeypatch.setenv("UO_DEPLOY_TOKEN", environment_api.token("deployments:write"))
    code, out, _ = run(bump(environment_api.url), capsys)
    assert code == 0
    assert "nothing to commit" in out
    assert {e["git_commit"] for e in environment_api.history("dev")} == {commit}


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        ("environment-api:8002", "t", "--record 'environment-api:8002' is not an http(s) URL"),
        ("http://127.0.0.1:9", None, "--record needs a credential"),
    ],
)
def test_a_bad_url_or_no_credential_is_refused_before_committing(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    token: str | None,
    message: str,
) -> None:
    if token:
        monkeypatch.setenv("UO_DEPLOY_TOKEN", token)
    before = git(repo, "rev-parse", "HEAD")
    code, _, err = run(bump(url), capsys)
    assert code == EXIT_USAGE
    assert message in err
    assert git(repo, "rev-parse", "HEAD") == before


@pytest.fixture
def auth_database() -> Iterator[DatabaseSettings]:
    settings = asyncio.run(create_test_database())
    yield settings
    asyncio.run(drop_test_database(settings))


@pytest.fixture
def signed_in_stack(
    database: DatabaseSettings, auth_database: DatabaseSettings
) -> Iterator[EnvironmentApi]:
    """The whole path: auth-service and auth-api (accounts, sign-in, JWKS), environment-api
    trusting auth-api's JWKS and relaying the sign-in to it, environment-service behind it."""
    auth_settings = AuthServiceSettings(database=auth_database)
    migrate_auth(auth_settings)

    async def gateway_client() -> None:
        app = create_auth_service(auth_settings)
        async with app.state.db.sessions() as session:
            await register_client(session, "auth-api", GATEWAY_SECRET, ["auth-service"])
        await app.state.db.dispose()

    asyncio.run(gateway_client())
    with serve_on_loopback(create_auth_service(auth_settings)) as auth_service_url:
        auth_api = create_auth_api(
            AuthApiSettings(
                service_url=auth_service_url,
                token_url=f"{auth_service_url}/oauth/token",
                client_secret=GATEWAY_SECRET,
            )
        )
        with serve_on_loopback(auth_api) as auth_url:
            registered = httpx.post(
                f"{auth_url}/v1/auth/register",
                json={"email": DEPLOYER_EMAIL, "password": DEPLOYER_PASSWORD},
            )
            assert registered.status_code == 201, registered.text
            assert roles_cli.main(["grant", DEPLOYER_EMAIL, "deployer"], auth_settings) == 0
            env_settings = ServiceSettings(
                database=database, infra_path=Path.cwd() / "infra/environments"
            )
            migrate(env_settings)
            endpoint = TokenEndpoint(client_id="environment-api")
            service = create_service(env_settings, keys=StaticKeys([endpoint.key.public_jwk()]))
            with serve_on_loopback(service) as service_url:
                api = create_api(
                    ApiSettings(
                        service_url=service_url,
                        jwks_url=f"{auth_url}/.well-known/jwks.json",
                        auth_url=auth_url,
                    ),
                    token_provider=ServiceTokenProvider(
                        token_url="http://auth/oauth/token",
                        client_id="environment-api",
                        client_secret="s3cret-for-tests",
                        http=endpoint.http,
                    ),
                )
                with serve_on_loopback(api) as url:
                    yield EnvironmentApi(url, SigningKey(), auth_url)


def test_the_deployer_signs_in_through_environment_api(
    repo: Path,
    signed_in_stack: EnvironmentApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UO_DEPLOYER_EMAIL", DEPLOYER_EMAIL)
    monkeypatch.setenv("UO_DEPLOYER_PASSWORD", "not the password")
    code, _, err = run(bump(signed_in_stack.url), capsys)
    assert code == EXIT_NOT_RECORDED
    assert f"sign-in of {DEPLOYER_EMAIL}" in err
    assert "401" in err

    monkeypatch.setenv("UO_DEPLOYER_PASSWORD", DEPLOYER_PASSWORD)
    code, out, err = run(bump(signed_in_stack.url), capsys)  # the sign-in relayed to auth-api
    assert code == 0, err
    assert "recorded dev: user-api" in out
