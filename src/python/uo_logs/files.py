"""An environment's log lines, read from the engine's own log files, as a node's log shipper
reads them: `uo up` bind-mounts each container's json-file log (the engine's ``LogPath``)
read-only at ``<root>/<id>.log`` and names the container of each in an index (``UO_LOGS_INDEX``:
id, name, created, labels). Nothing else of the engine is visible to the reader: not its API,
not the containers' configuration (whose environment holds their secrets).

Each line of a log file is ``{"log": "<text>\\n", "stream": ..., "time": "<RFC 3339 nano>"}``;
``time`` is when the engine received the line (``uo trace`` reads the same through the API).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from uo.loglines import LogLine, Source, named_sources, parse_line, split_engine_line

# Read at most this much of the end of each log file: a query stays bounded on a chatty tier.
TAIL_BYTES = 32 * 2**20
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ContainerLog:
    created: str
    name: str
    labels: Mapping[str, str]
    path: Path


def containers(root: Path, index: str) -> list[ContainerLog]:
    """The containers the index names, each with its log file under ``root``; an index that is
    not a list of entries names none (the health check says the reader is misconfigured)."""
    try:
        entries = json.loads(index)
        return [
            ContainerLog(
                str(entry["created"]),
                str(entry["name"]),
                {str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
                root / f"{entry['id']}.log",
            )
            for entry in entries
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def sources(found: list[ContainerLog], label: str) -> list[tuple[Source, ContainerLog]]:
    """Each container with the short name `uo logs` gives it (uo.loglines.named_sources)."""
    return named_sources(found, lambda c: (c.created, c.name, c.labels), label)


def _records(path: Path) -> Iterator[str]:
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - TAIL_BYTES))
            if size > TAIL_BYTES:
                file.readline()  # the first line is cut
            yield from (raw.decode(errors="replace") for raw in file)
    except OSError:  # removed while we read: its lines are gone with it
        return


def read_lines(found: list[tuple[Source, ContainerLog]], since: datetime) -> list[LogLine]:
    """Every line of these containers from ``since`` on, ordered by the time the engine received
    it (a line's own timestamp decides ``since`` when it has one)."""
    lines = []
    for source, item in found:
        for raw in _records(item.path):
            try:
                entry = json.loads(raw)
                received, _ = split_engine_line(f"{entry['time']} -")
                line = parse_line(source, str(entry["log"]), received)
            except (ValueError, KeyError, TypeError):
                continue
            when = line.time or received
            if when is None or when >= since:
                lines.append(line)
    return sorted(lines, key=lambda line: line.received or _NEVER)


__all__ = ["TAIL_BYTES", "ContainerLog", "containers", "read_lines", "sources"]
