"""An environment's log lines, read from the engine's own files — what a cluster's log shipper
reads on a node (the json-file driver's ``<data root>/containers/<id>/<id>-json.log``, and the
container's labels from ``config.v2.json`` beside it), mounted read-only into the reader. No
engine API: the reader can see logs, and nothing else of the engine.

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


def containers(root: Path, label: str, environment: str) -> list[ContainerLog]:
    """The containers under ``root`` (the engine's ``containers`` directory) whose
    ``<label>.environment`` is ``environment``; unreadable or half-written entries are skipped
    (a container being created or removed while we look)."""
    found = []
    for config_file in sorted(root.glob("*/config.v2.json")):
        try:
            config = json.loads(config_file.read_text())
            labels = config["Config"].get("Labels") or {}
            name = str(config.get("Name", "")).lstrip("/")
            created = str(config.get("Created", ""))
        except (OSError, ValueError, KeyError, AttributeError):
            continue
        if labels.get(f"{label}.environment") != environment:
            continue
        log = config_file.parent / f"{config_file.parent.name}-json.log"
        found.append(ContainerLog(created, name, labels, log))
    return found


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
