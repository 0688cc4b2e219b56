"""Roles on a real PostgreSQL: what a fresh account may do, granting and revoking through the
internal routes and the `roles` subcommand, the last-admin guard, and scopes following roles."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, get_args

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from unifyops.identity.auth.auth_service import main as service_main
from unifyops.identity.auth.auth_service import roles_cli
from unifyops.identity.auth.auth_service.conftest import AuthService
from unifyops.identity.auth.auth_service.schemas import ROLE_SCOPES, RoleName, scopes_of
from unifyops.identity.auth.auth_service.service_test import login, register, validator_for
from unifyops_core import migrations

UNIFORM_KEYS = {"status_code", "message", "error_id", "error_type", "timestamp"}


def test_the_role_table_is_cumulative_and_matches_the_role_names() -> None:
    assert list(ROLE_SCOPES) == list(get_args(RoleName))
    names = list(ROLE_SCOPES)
    for lower, higher in itertools.pairwise(names):
        assert set(ROLE_SCOPES[lower]) < set(ROLE_SCOPES[higher]), (lower, higher)
    assert "environments:read" not in ROLE_SCOPES["member"]
    assert {"roles:write", "profiles:admin", "deployments:write"} <= set(ROLE_SCOPES["admin"])
    # The release tooling's credential (uo bump --record) records deployments and nothing more.
    assert "deployments:write" in ROLE_SCOPES["deployer"]
    assert not {"roles:write", "profiles:admin"} & set(ROLE_SCOPES["deployer"])


async def token_scopes(svc: AuthService, tokens: dict[str, Any]) -> set[str]:
    principal = await (await validator_for(svc, "unifyops")).validate(str(tokens["access_token"]))
    return set(principal.scopes)


async def change(svc: AuthService, action: str, email: str, role: str) -> Any:
    return await svc.http.post(
        f"/internal/roles/{action}",
        json={"email": email, "role": role},
        headers=await svc.as_gateway(),
    )


async def test_a_fresh_account_is_a_member_and_a_grant_reaches_the_next_token(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    _, tokens = await login(auth_service)
    assert await token_scopes(auth_service, tokens) == {"profile:read", "profile:write"}

    granted = await change(auth_service, "grant", "Ada@Example.com", "viewer")
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == ["member", "viewer"]
    # The token already issued keeps its scopes; the refresh issues the new ones.
    refreshed = await auth_service.http.post(
        "/internal/sessions/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        headers=await auth_service.as_gateway(),
    )
    assert "environments:read" in await token_scopes(auth_service, refreshed.json())

    revoked = await change(auth_service, "revoke", "ada@example.com", "viewer")
    assert revoked.json()["roles"] == ["member"]
    _, again = await login(auth_service)
    assert await token_scopes(auth_service, again) == {"profile:read", "profile:write"}
    shown = await auth_service.http.get(
        "/internal/roles/accounts",
        params={"email": "ada@example.com"},
        headers=await auth_service.as_gateway(),
    )
    assert shown.json()["scopes"] == ["profile:read", "profile:write"]


async def test_unknown_account_or_role_and_missing_service_token_are_refused(
    auth_service: AuthService,
) -> None:
    await register(auth_service)
    missing = await change(auth_service, "grant", "nobody@example.com", "admin")
    assert (missing.status_code, missing.json()["error_type"]) == (404, "db_record_not_found")
    assert set(missing.json()) >= UNIFORM_KEYS
    bad_role = await change(auth_service, "grant", "ada@example.com", "root")
    assert (bad_role.status_code, bad_role.json()["error_type"]) == (422, "validation_error")
    anonymous = await auth_service.http.post(
        "/internal/roles/grant", json={"email": "ada@example.com", "role": "admin"}
    )
    assert anonymous.status_code == 401
    assert set(anonymous.json()) >= UNIFORM_KEYS


async def test_the_last_admin_and_the_member_role_cannot_be_revoked(
    auth_service: AuthService,
) -> None:
    for email in ("ada@example.com", "grace@example.com"):
        await register(auth_service, email=email)
    assert (await change(auth_service, "grant", "ada@example.com", "admin")).status_code == 200
    last = await change(auth_service, "revoke", "ada@example.com", "admin")
    assert (last.status_code, last.json()["error_type"]) == (409, "conflict")
    assert "last admin" in last.json()["message"]
    member = await change(auth_service, "revoke", "grace@example.com", "member")
    assert member.status_code == 409

    assert (await change(auth_service, "grant", "grace@example.com", "admin")).status_code == 200
    # Two admins revoking each other at once: exactly one of them stays admin.
    first, second = await asyncio.gather(
        change(auth_service, "revoke", "ada@example.com", "admin"),
        change(auth_service, "revoke", "grace@example.com", "admin"),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    # Revoking a role the account lacks is a no-op, not a failure.
    lacking = await change(auth_service, "revoke", "grace@example.com", "deployer")
    assert lacking.status_code == 200


async def run_cli(svc: AuthService, *argv: str) -> int:
    # The subcommand runs its own event loop, as it does in a shell: give it a thread.
    return await asyncio.to_thread(roles_cli.main, list(argv), svc.settings)


async def test_the_roles_subcommand_grants_revokes_and_fails_clearly(
    auth_service: AuthService, capsys: pytest.CaptureFixture[str]
) -> None:
    await register(auth_service, email="operator@example.com")
    code = await run_cli(auth_service, "grant", "operator@example.com", "admin")
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("operator@example.com: member, admin (scopes: ")
    assert "roles:write" in out

    code = await run_cli(auth_service, "revoke", "operator@example.com", "admin")
    assert code == 1
    assert "last admin" in capsys.readouterr().err

    code = await run_cli(auth_service, "grant", "nobody@example.com", "viewer")
    assert (code, capsys.readouterr().err) == (
        1,
        "auth-service roles grant: No account with this email\n",
    )

    code = await run_cli(auth_service, "show", "operator@example.com")
    assert code == 0
    assert "member, admin" in capsys.readouterr().out


def test_roles_subcommand_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as unknown_role:
        service_main.main(["roles", "grant", "ada@example.com", "root"])
    assert unknown_role.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as helped:
        service_main.main(["roles", "--help"])
    assert helped.value.code == 0
    assert "grant" in capsys.readouterr().out
    assert service_main.main(["roles", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == list(ROLE_SCOPES)


def test_an_unreachable_database_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pydantic import SecretStr

    from unifyops.identity.auth.auth_service.config import Settings
    from unifyops_core.db import DatabaseSettings

    nowhere = Settings(
        database=DatabaseSettings(host="127.0.0.1", port=9, password=SecretStr("s3cret-pw"))
    )
    assert roles_cli.main(["show", "ada@example.com"], settings=nowhere) == 1
    err = capsys.readouterr().err
    assert err.startswith("auth-service roles show: database unavailable: ")
    assert "s3cret-pw" not in err


async def test_migrate_makes_existing_accounts_members_and_rederives_scopes(
    auth_service: AuthService,
) -> None:
    await register(auth_service, email="ada@example.com")
    await change(auth_service, "grant", "ada@example.com", "deployer")
    url = auth_service.settings.database.url()
    engine = create_async_engine(url)
    try:
        # Stale scopes, as if the role table in code had changed since the last grant.
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE users SET scopes = '{profile:read}'"))
        await asyncio.to_thread(service_main.migrate, auth_service.settings)
        async with engine.connect() as connection:
            scopes = (await connection.execute(text("SELECT scopes FROM users"))).scalar_one()
        assert scopes == scopes_of(["member", "deployer"])

        # An account from before roles existed had environments:read; after 0002 it is a member.
        await asyncio.to_thread(migrations.downgrade, service_main.MIGRATIONS, url, "0001")
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE users SET scopes = '{profile:read,profile:write,environments:read}'")
            )
        await asyncio.to_thread(service_main.migrate, auth_service.settings)
        async with engine.connect() as connection:
            row = (await connection.execute(text("SELECT roles, scopes FROM users"))).one()
        assert (row.roles, row.scopes) == (["member"], ["profile:read", "profile:write"])
    finally:
        await engine.dispose()
