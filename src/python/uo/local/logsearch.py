"""Every container of an environment as log sources, read from the engine: `uo logs` (all or one
tier, filtered, followed) and `uo trace` (the lines of one request from every tier).

Containers are found by the environment label alone, so the edge, one-shot hooks and stopped
containers count too; the engine keeps a removed container's log no longer than the container.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

import docker
from docker.models.containers import Container

from uo.local import engine
from uo.local.topology import LABEL
from uo.loglines import (
    LogLine,
    Source,
    named_sources,
    parse_line,
    passes,
    split_engine_line,
)

_NEVER = datetime.min.replace(tzinfo=UTC)


def sources(containers: list[Container]) -> list[tuple[Source, Container]]:
    """Each container with its short name (``<stack>-<tier>``; ``.<n>`` when a tier has more
    than one), oldest first."""
    return named_sources(
        containers, lambda c: (c.attrs.get("Created", ""), c.name, c.labels), LABEL
    )


def environment_sources(
    client: docker.DockerClient, environment: str, stack: str | None = None, tier: str | None = None
) -> list[tuple[Source, Container]]:
    labels = {key: value for key, value in (("stack", stack), ("tier", tier)) if value}
    return sources(engine.containers(client, environment, **labels))


def _read(container: Container, since: datetime | None, tail: int | str) -> bytes:
    try:
        logs: bytes = container.logs(timestamps=True, since=since, tail=tail)
    except docker.errors.NotFound:  # removed while we were listing
        return b""
    return logs


def read_lines(
    found: list[tuple[Source, Container]], *, since: datetime | None, tail: int | str = "all"
) -> list[LogLine]:
    """Every line of every source from ``since`` on, ordered by the time the engine received it.

    A line's time is its own timestamp when it has one (the engine's ``since`` counts whole
    seconds of receipt), else the engine's."""
    lines = []
    for source, container in found:
        for raw in _read(container, since, tail).decode(errors="replace").splitlines():
            received, text = split_engine_line(raw)
            line = parse_line(source, text, received)
            if _after(line, since):
                lines.append(line)
    # Stable: a line the engine stamped no time for stays after its container's previous line.
    return sorted(lines, key=lambda line: line.received or _NEVER)


def _after(line: LogLine, since: datetime | None) -> bool:
    when = line.time
    return since is None or when is None or when >= since


def _prefixed(line: LogLine, width: int) -> str:
    return f"{line.source.name:<{width}} | {line.raw}\n"


def print_lines(
    found: list[tuple[Source, Container]],
    *,
    since: datetime | None,
    tail: int,
    min_level: str | None,
    error_id: str | None,
    out: IO[str] | None = None,
) -> int:
    """Print the filtered lines (prefixed by their container when there are several)."""
    out = out or sys.stdout
    width = max((len(source.name) for source, _ in found), default=0)
    count = 0
    for line in read_lines(found, since=since, tail=tail):
        if passes(line, min_level=min_level, error_id=error_id):
            out.write(_prefixed(line, width) if len(found) > 1 else line.raw + "\n")
            count += 1
    out.flush()
    return count


def _stream(
    source: Source,
    container: Container,
    into: queue.Queue[LogLine | None],
    since: datetime | None,
    tail: int,
) -> None:
    try:
        pending = b""
        chunks = container.logs(stream=True, follow=True, timestamps=True, since=since, tail=tail)
        for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                received, text = split_engine_line(raw.decode(errors="replace"))
                into.put(parse_line(source, text, received))
    except docker.errors.DockerException:
        pass  # the container went away: its stream ends
    finally:
        into.put(None)


def follow_lines(
    found: list[tuple[Source, Container]], *, since: datetime | None = None, tail: int = 0
) -> Iterator[LogLine]:
    """The last ``tail`` lines of every source, then new lines as they come (one reader thread
    per container; lines arrive in the order they are read, not sorted across containers)."""
    lines: queue.Queue[LogLine | None] = queue.Queue()
    for source, container in found:
        threading.Thread(
            target=_stream, args=(source, container, lines, since, tail), daemon=True
        ).start()
    open_streams = len(found)
    while open_streams:
        line = lines.get()
        if line is None:
            open_streams -= 1
        else:
            yield line


def follow(
    found: list[tuple[Source, Container]],
    *,
    since: datetime | None,
    tail: int,
    min_level: str | None,
    error_id: str | None,
    out: IO[str] | None = None,
) -> None:
    out = out or sys.stdout
    width = max((len(source.name) for source, _ in found), default=0)
    for line in follow_lines(found, since=since, tail=tail):
        if _after(line, since) and passes(line, min_level=min_level, error_id=error_id):
            out.write(_prefixed(line, width) if len(found) > 1 else line.raw + "\n")
            out.flush()


__all__ = ["environment_sources", "follow", "follow_lines", "print_lines", "read_lines", "sources"]
