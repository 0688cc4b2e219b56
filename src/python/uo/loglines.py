"""Lines of the tiers' logs as data: which container said what, when, at which level, about which
request. Pure: `uo logs` and `uo trace` read the engine (``uo.local.logsearch``) and hand the raw
lines here.

Every UnifyOps tier writes one JSON object per line. Core tiers (``unifyops_core.logs``) carry
``timestamp``, ``level``, ``request_id``, ``error_id`` and bound fields under ``extra``; the edge
and the app server write ``timestamp``, ``service``, ``event`` and their fields at the top level,
without a level (read as INFO). Anything else (a traceback, a banner) is a plain line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")

LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_RANK = {
    "trace": 5, "debug": 10, "info": 20, "success": 25, "warning": 30, "error": 40, "critical": 50
}  # fmt: skip
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SinceError(ValueError):
    """--since is neither a duration (30s, 10m, 1h, 2d) nor an ISO 8601 time."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """The moment ``text`` names: ``10m`` is ten minutes before ``now``; an ISO time is itself
    (UTC when it names no zone)."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SinceError(
            f"--since {text!r}: expected a duration (30s, 10m, 1h, 2d) or an ISO time "
            "(2026-01-31T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def level_rank(level: str) -> int:
    return _LEVEL_RANK.get(level.lower(), 20)


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Source:
    """The container a line came from, by its labels."""

    name: str  # short: <stack>-<tier>, unique within one listing
    stack: str
    tier: str


@dataclass(frozen=True)
class LogLine:
    source: Source
    raw: str
    # The engine's receive time: orders plain lines and lines without a timestamp of their own.
    received: datetime | None = None
    record: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def is_json(self) -> bool:
        return self.record is not None

    def get(self, key: str) -> Any:
        """A field of the JSON line, top-level first, then under ``extra``."""
        if self.record is None:
            return None
        if self.record.get(key) is not None:
            return self.record[key]
        extra = self.record.get("extra")
        return extra.get(key) if isinstance(extra, dict) else None

    @property
    def level(self) -> str | None:
        if self.record is None:
            return None
        level = self.record.get("level")
        return level.lower() if isinstance(level, str) else "info"

    @property
    def time(self) -> datetime | None:
        return parse_time(self.get("timestamp")) or self.received

    @property
    def message(self) -> str:
        if self.record is None:
            return self.raw
        text = self.record.get("message") or self.record.get("event")
        return str(text) if text is not None else ""

    def matches(self, identifier: str) -> bool:
        return identifier in (self.get("request_id"), self.get("error_id"), self.get("trace_id"))


def named_sources(
    containers: list[T], describe: Callable[[T], tuple[str, str, Mapping[str, str]]], label: str
) -> list[tuple[Source, T]]:
    """Each container with its short name, oldest first: ``<stack>-<tier>`` from its
    ``<label>.stack``/``<label>.tier`` labels, ``.<n>`` for a tier's n-th container.
    ``describe`` gives a container's (created, name, labels)."""
    ordered = sorted(containers, key=lambda c: describe(c)[:2])
    counts: dict[str, int] = {}
    found = []
    for container in ordered:
        _, name, labels = describe(container)
        stack = labels.get(f"{label}.stack", "?")
        tier = labels.get(f"{label}.tier", name)
        base = f"{stack}-{tier}"
        counts[base] = counts.get(base, 0) + 1
        short = base if counts[base] == 1 else f"{base}.{counts[base]}"
        found.append((Source(short, stack, tier), container))
    return found


def parse_line(source: Source, raw: str, received: datetime | None = None) -> LogLine:
    text = raw.rstrip("\r\n")
    record: dict[str, Any] | None = None
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            record = decoded
    return LogLine(source, text, received, record)


def split_engine_line(raw: str) -> tuple[datetime | None, str]:
    """``<RFC 3339 nano time> <text>`` (the engine's ``timestamps=True``) as (time, text)."""
    stamp, _, text = raw.partition(" ")
    # The engine writes nanoseconds; fromisoformat takes at most microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", stamp)
    moment = parse_time(trimmed)
    return (moment, text) if moment else (None, raw)


def passes(line: LogLine, *, min_level: str | None, error_id: str | None) -> bool:
    """Whether ``line`` passes `uo logs`' filters. A plain line has no level: it passes only
    when no level is asked for."""
    if error_id and error_id not in line.raw:
        return False
    if min_level is None:
        return True
    level = line.level
    return level is not None and level_rank(level) >= level_rank(min_level)


__all__ = [
    "LEVELS",
    "LogLine",
    "SinceError",
    "Source",
    "level_rank",
    "named_sources",
    "parse_line",
    "parse_since",
    "parse_time",
    "passes",
    "split_engine_line",
]
