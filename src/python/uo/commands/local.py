"""`uo up`, `uo down`, `uo logs`: the wiring of the local environment commands (uo.local does the
work; this module only parses arguments and turns uo.local's failures into a UoError).

Kept thin on purpose: uo.local is being rewritten, and its functions' signatures may change.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from unifyops_core.naming import ENVIRONMENTS, STACKS, TIER_PORTS
from uo.errors import LocalEnvironmentError

LOCAL_ENVIRONMENTS = ("local", *ENVIRONMENTS)


def register(commands: Any) -> None:
    up = commands.add_parser(
        "up",
        help="run an environment on this machine's Docker engine (default: local)",
        description="Bring up every stack (PostgreSQL, migrations, service, api, app) behind a "
        "front door on 127.0.0.1, in the cluster's order and isolation; again after a change, "
        "roll the changed tiers one by one (the old version serves until the new one is ready). "
        "Environment 'local' builds the working tree; dev, staging and prod run the images their "
        "infra files record.",
    )
    up.add_argument(
        "--env", default="local", choices=LOCAL_ENVIRONMENTS, help="environment (default: local)"
    )
    up.add_argument(
        "--stack",
        action="append",
        choices=sorted(STACKS),
        help="only these stacks (auth is always included)",
    )
    up.add_argument(
        "--registry",
        help="registry to pull recorded images from (default: the local registry)",
    )
    up.add_argument(
        "--ready-timeout",
        type=float,
        default=90.0,
        help="seconds a new container gets to become ready (default: 90)",
    )
    up.set_defaults(run=run_up)
    down = commands.add_parser(
        "down",
        help="stop and remove an environment started by uo up",
        description="Stop an environment's containers (front door first, databases last) and "
        "remove its networks. Data and generated secrets are kept unless --volumes.",
    )
    down.add_argument("--env", default="local", choices=LOCAL_ENVIRONMENTS, help="environment")
    down.add_argument("--volumes", action="store_true", help="also delete databases and secrets")
    down.set_defaults(run=run_down)
    logs = commands.add_parser(
        "logs",
        help="print the log of a running tier",
        description="Print the log of a tier's newest container (JSON lines).",
    )
    logs.add_argument("stack", choices=sorted(STACKS))
    logs.add_argument("tier", choices=[*TIER_PORTS, "migrate"])
    logs.add_argument("--env", default="local", choices=LOCAL_ENVIRONMENTS, help="environment")
    logs.add_argument("--tail", type=int, default=100, help="lines from the end (default: 100)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(run=run_logs)


@contextmanager
def _as_uo_errors() -> Iterator[None]:
    """uo.local's failures (its own classes, the Docker SDK's) as one UoError."""
    import docker.errors

    from uo.local.engine import EngineError
    from uo.local.reconcile import RolloutError

    try:
        yield
    except (EngineError, RolloutError, docker.errors.DockerException) as exc:
        raise LocalEnvironmentError(str(exc)) from exc


def _call(function: Callable[..., int], *args: Any) -> int:
    with _as_uo_errors():
        return function(*args)


def run_up(options: argparse.Namespace) -> int:
    from uo.local import commands, sources
    from uo.repo import find_repo_root

    registry = options.registry or sources.DEFAULT_REGISTRY
    repo = find_repo_root()
    return _call(commands.run_up, repo, options.env, options.stack, registry, options.ready_timeout)


def run_down(options: argparse.Namespace) -> int:
    from uo.local import commands

    return _call(commands.run_down, options.env, options.volumes)


def run_logs(options: argparse.Namespace) -> int:
    from uo.local import commands

    return _call(
        commands.run_logs, options.env, options.stack, options.tier, options.tail, options.follow
    )
