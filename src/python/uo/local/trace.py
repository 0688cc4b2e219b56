"""`uo trace ID`: the lines of one request from every container of an environment, as a tree
(``uo.tracing`` builds and prints it)."""

from __future__ import annotations

import sys
from datetime import datetime

from uo.local import engine, logsearch
from uo.output import TEXT, emit
from uo.tracing import as_json, build_trace, render

EXIT_OK, EXIT_FAILURE = 0, 1


def run_trace(
    environment: str, identifier: str, since: datetime, output: str, all_events: bool
) -> int:
    """``output``: text (the tree), json or yaml (uo.output)."""
    found = logsearch.environment_sources(engine.connect(), environment)
    if not found:
        print(f"uo trace: no containers in {environment} (see ./uo status)", file=sys.stderr)
        return EXIT_FAILURE
    lines = logsearch.read_lines(found, since=since)
    trace = build_trace(identifier, lines)
    if not trace.request_ids:
        print(
            f"uo trace: no line of {environment} since {since.isoformat(timespec='seconds')} "
            f"carries {identifier!r} as a request, error or trace id (try a larger --since)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if output != TEXT:
        emit(as_json(trace), output)
    else:
        print(render(trace, all_events=all_events))
    return EXIT_OK


__all__ = ["run_trace"]
