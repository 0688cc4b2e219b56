"""`auth-service roles ...`: list roles, show, grant and revoke an account's roles from a shell in
the auth-service container (`uo grant` runs this with `docker exec`; on a cluster
`kubectl exec deploy/auth-service -- /app/venv/pex roles grant EMAIL ROLE`).

It talks to the database directly (settings from the same ``UO_*`` environment as the server),
so it works without a service token and before anyone is admin. Exit codes: 0 done, 1 refused or
failed (unknown account, last admin, database unreachable), 2 usage (including an unknown role).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from unifyops.identity.auth.auth_service import roles
from unifyops.identity.auth.auth_service.config import Settings, get_settings
from unifyops.identity.auth.auth_service.schemas import ROLE_SCOPES, AccountRoles
from unifyops_core.db import Database
from unifyops_core.exceptions import UnifyOpsError
from unifyops_core.redaction import redact_text

EXIT_OK, EXIT_FAILURE = 0, 1
PROG = "auth-service roles"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Manage account roles. A change reaches the account's access token at its "
        "next login or token refresh.",
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    commands.add_parser("list", help="the roles and the scopes each grants")
    show = commands.add_parser("show", help="an account's roles and scopes")
    show.add_argument("email")
    for action, text in (("grant", "give an account a role"), ("revoke", "take a role away")):
        change = commands.add_parser(action, help=text)
        change.add_argument("email")
        change.add_argument("role", choices=list(ROLE_SCOPES))
    return parser


def format_account(account: AccountRoles) -> str:
    return f"{account.email}: {', '.join(account.roles)} (scopes: {' '.join(account.scopes)})"


def main(argv: Sequence[str], settings: Settings | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.action == "list":
        for name, scopes in ROLE_SCOPES.items():
            print(f"{name:<9} {' '.join(scopes)}")
        return EXIT_OK
    operations: dict[str, Callable[[AsyncSession], Awaitable[AccountRoles]]] = {
        "show": lambda session: roles.account_roles(session, options.email),
        "grant": lambda session: roles.grant(session, options.email, options.role),
        "revoke": lambda session: roles.revoke(session, options.email, options.role),
    }
    try:
        account = asyncio.run(_run(settings or get_settings(), operations[options.action]))
    except UnifyOpsError as exc:
        print(f"{PROG} {options.action}: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, SQLAlchemyError) as exc:
        problem = redact_text(str(exc).splitlines()[0] if str(exc) else "")
        print(
            f"{PROG} {options.action}: database unavailable: {type(exc).__name__}: {problem}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print(format_account(account))
    return EXIT_OK


async def _run(
    settings: Settings, operation: Callable[[AsyncSession], Awaitable[AccountRoles]]
) -> AccountRoles:
    database = Database(settings.database)
    try:
        async with database.sessions() as session:
            return await operation(session)
    finally:
        await database.dispose()


__all__ = ["format_account", "main"]
