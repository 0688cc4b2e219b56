"""`uo grant EMAIL ROLE` and `uo revoke EMAIL ROLE`: change an account's roles in a running
`uo up` environment (uo.local.accounts runs `auth-service roles` inside its auth-service).

The roles and their scopes are defined once, in auth-service; an unknown role is its usage error
(exit 2 here too), an unknown account or the last admin its refusal (exit 1).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from uo.errors import EXIT_OK, EXIT_USAGE, LocalEnvironmentError, RoleError, UsageError

if TYPE_CHECKING:
    from uo.local.accounts import Outcome

ROLES_HELP = "member, viewer, deployer or admin (`docs/roles.md` lists their scopes)"
TOKEN_NOTE = (
    "The change reaches the account's access token at its next sign-in or token refresh "
    "(access tokens are short-lived)."
)


def register(commands: Any) -> None:
    from uo.commands.local import LOCAL_ENVIRONMENTS

    for name, verb, text in (
        ("grant", "give", "give an account a role in a running environment"),
        ("revoke", "take", "take a role from an account in a running environment"),
    ):
        parser = commands.add_parser(
            name,
            help=text,
            description=f"{verb.capitalize()} an account's role in an environment started by "
            f"`uo up` (runs `auth-service roles {name}` in its auth-service container). "
            f"{TOKEN_NOTE} The last admin cannot be revoked.",
        )
        parser.add_argument("email", help="the account's email, e.g. ada@example.com")
        parser.add_argument("role", help=ROLES_HELP)
        parser.add_argument(
            "--env",
            default="local",
            choices=LOCAL_ENVIRONMENTS,
            help="environment (default: local)",
        )
        parser.set_defaults(run=run, action=name)


def run(options: argparse.Namespace) -> int:
    import docker.errors

    from uo.local import accounts, engine

    try:
        client = engine.connect(timeout=30)
        outcome = accounts.run_roles(
            client, options.env, [options.action, options.email, options.role]
        )
    except (engine.EngineError, docker.errors.DockerException) as exc:
        raise LocalEnvironmentError(str(exc)) from exc
    return report(outcome)


def report(outcome: Outcome) -> int:
    """Print what the service did, or turn its refusal into uo's error (same exit code class)."""
    if outcome.exit_code == EXIT_OK:
        print(outcome.stdout.rstrip())
        return EXIT_OK
    if outcome.exit_code == EXIT_USAGE:
        raise UsageError(outcome.message())
    raise RoleError(outcome.message())
