"""`uo trace ID`: one request across every tier of an environment, from the engine's logs."""

from __future__ import annotations

import argparse
from typing import Any

from uo.commands.local import _call, add_environment_option, since_option
from uo.output import add_output_option


def register(commands: Any) -> None:
    trace = commands.add_parser(
        "trace",
        help="show one request across tiers (by request id or error id)",
        description="Find the log lines of one request in every container of an environment "
        "(edge, app, api, service, ...) and print the request as a tree across tiers: per hop "
        "its status, duration and start offset, its warning and error lines, and the failing hop "
        "(the deepest one that answered 5xx, else the one that logged the error). An error id "
        "(from an error response) leads to its request first. Exits 1 when no line carries the id.",
    )
    trace.add_argument(
        "id", help="a request id (X-Request-ID), an error id (error_id) or a trace id"
    )
    add_environment_option(trace)
    trace.add_argument(
        "--since",
        type=since_option,
        default="1h",
        help="search lines from this time on: a duration back from now (30s, 10m, 1h, 2d) or an "
        "ISO time (default: 1h)",
    )
    add_output_option(trace, "the tree")
    trace.add_argument(
        "--all",
        action="store_true",
        help="show every line of the request, not only warnings and errors",
    )
    trace.set_defaults(run=run_trace)


def run_trace(options: argparse.Namespace) -> int:
    from uo.local.trace import run_trace as trace

    return _call(
        trace,
        options.env,
        options.id,
        options.since,
        options.output,
        options.all,
    )
