"""`uo up`, `uo down`, `uo logs`: the wiring of the local environment commands (uo.local does the
work; this module only parses arguments and turns uo.local's failures into a UoError).

Kept thin on purpose: uo.local is being rewritten, and its functions' signatures may change.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from unifyops_core.naming import ENVIRONMENTS, STACKS, TIER_PORTS
from uo.errors import LocalEnvironmentError, UsageError
from uo.loglines import LEVELS, SinceError, parse_since

# ``test``: a second working-tree environment beside local (the e2e suite's; `uo down --env test`
# cleans up after an aborted run).
LOCAL_ENVIRONMENTS = ("local", "test", *ENVIRONMENTS)
WATCH_INTERVAL = 10.0  # seconds: `uo up --watch` heals within about this much
# Reading logs changes nothing, so `uo logs` and `uo trace` read any environment `uo up` labelled
# (the e2e tests' `test` included), not only the ones `uo up` may be asked to start.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def name_option(text: str) -> str:
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(f"not a name: {text!r}")
    return text


def add_environment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        default="local",
        type=name_option,
        help=f"environment started by uo up (default: local; e.g. {', '.join(LOCAL_ENVIRONMENTS)})",
    )


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600: {text}")
    return seconds


def since_option(text: str) -> datetime:
    try:
        return parse_since(text)
    except SinceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(commands: Any) -> None:
    up = commands.add_parser(
        "up",
        help="run an environment on this machine's Docker engine (default: local)",
        description="Bring up every stack (PostgreSQL, migrations, service, api, app) behind a "
        "front door on 127.0.0.1, in the cluster's order and isolation; again after a change, "
        "roll the changed tiers one by one (the old version serves until the new one is ready). "
        "Environments 'local' and 'test' (a second one, the e2e suite's) build the working tree; "
        "dev, staging and prod run the images their infra files record.",
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
        "--images-from",
        metavar="DIR",
        type=Path,
        help="build nothing: run the images whose Pants docker-info files are under DIR (e.g. "
        "dist, after `pants package ::`)",
    )
    up.add_argument(
        "--ready-timeout",
        type=float,
        default=90.0,
        help="seconds a new container gets to become ready (default: 90)",
    )
    up.add_argument(
        "--watch",
        action="store_true",
        help="after converging, keep watching: converge again when a container is stopped, "
        "removed or changed by hand, or when infra/ or the chart changes (a new commit, a "
        "revert); each action is reported. Ctrl-C stops watching, not the environment",
    )
    up.add_argument(
        "--interval",
        type=positive_seconds,
        help=f"with --watch: seconds between looks (default: {WATCH_INTERVAL:g})",
    )
    up.set_defaults(run=run_up)
    down = commands.add_parser(
        "down",
        help="stop and remove an environment started by uo up",
        description="Stop an environment's containers (front door first, databases last) and "
        "remove its networks; a `uo up --watch` keeping it converged is stopped first. Data and "
        "generated secrets are kept unless --volumes.",
    )
    down.add_argument("--env", default="local", choices=LOCAL_ENVIRONMENTS, help="environment")
    down.add_argument("--volumes", action="store_true", help="also delete databases and secrets")
    down.set_defaults(run=run_down)
    logs = commands.add_parser(
        "logs",
        help="print the logs of an environment's containers",
        description="Print the log lines (JSON) of every container of an environment, the edge "
        "and one-shot hooks included, each prefixed by its container (<stack>-<tier>); or of one "
        "stack, or one tier. Lines are ordered by the time the engine received them.",
    )
    logs.add_argument(
        "stack",
        nargs="?",
        # "platform": the stack label `uo up` gives what serves every stack (the edge, secrets);
        # "monitoring": its Prometheus.
        choices=[*sorted(STACKS), "platform", "monitoring"],
        help="only this stack (platform: the edge; monitoring: Prometheus)",
    )
    logs.add_argument(
        "tier",
        nargs="?",
        type=name_option,
        help=f"only this tier of the stack ({', '.join([*TIER_PORTS, 'migrate'])}, "
        "a hook's name, or edge)",
    )
    add_environment_option(logs)
    logs.add_argument(
        "--tail", type=int, default=100, help="lines from the end of each container (default: 100)"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--since",
        type=since_option,
        help="only lines from this time on: a duration back from now (30s, 10m, 1h, 2d) or an "
        "ISO time (2026-01-31T12:00:00Z)",
    )
    logs.add_argument(
        "--level",
        choices=LEVELS,
        help="only JSON lines at this level or above (lines without a level count as info; "
        "plain text lines are dropped)",
    )
    logs.add_argument(
        "--error-id", help="only lines that carry this error id (from an error response's body)"
    )
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
    if options.interval is not None and not options.watch:
        raise UsageError("--interval is for --watch (uo up --watch --interval SECONDS)")
    if options.images_from is not None and not options.images_from.is_dir():
        raise UsageError(f"--images-from {options.images_from}: no such directory")
    return _call(
        commands.run_up,
        repo,
        options.env,
        options.stack,
        registry,
        options.ready_timeout,
        (options.interval or WATCH_INTERVAL) if options.watch else None,
        options.images_from,
    )


def run_down(options: argparse.Namespace) -> int:
    from uo.local import commands

    return _call(commands.run_down, options.env, options.volumes)


def run_logs(options: argparse.Namespace) -> int:
    from uo.local import commands

    return _call(
        commands.run_logs,
        options.env,
        options.stack,
        options.tier,
        options.tail,
        options.follow,
        options.since,
        options.level,
        options.error_id,
    )
