from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from uo.loglines import SinceError, Source, parse_line, parse_since, passes, split_engine_line

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
SRC = Source("user-api", "user", "api")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - timedelta(seconds=30)),
        ("10m", NOW - timedelta(minutes=10)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2d", NOW - timedelta(days=2)),
        ("2026-01-31T11:00:00Z", datetime(2026, 1, 31, 11, tzinfo=UTC)),
        ("2026-01-31T11:00:00+01:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31T11:00", datetime(2026, 1, 31, 11, tzinfo=UTC)),  # no zone: UTC
    ],
)
def test_since_is_a_duration_back_or_an_iso_time(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "10", "5w", ""])
def test_a_bad_since_says_what_is_expected(text: str) -> None:
    with pytest.raises(SinceError, match="expected a duration"):
        parse_since(text, NOW)


def test_engine_lines_split_into_time_and_text() -> None:
    when, text = split_engine_line('2026-01-31T12:00:00.123456789Z {"a": 1} x')
    assert when == datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    assert text == '{"a": 1} x'
    assert split_engine_line("no time here") == (None, "no time here")


def test_fields_are_read_top_level_then_under_extra() -> None:
    core = parse_line(SRC, json.dumps({"level": "WARNING", "extra": {"status": 500}, "x": 1}))
    assert core.get("status") == 500
    assert core.get("x") == 1
    assert core.level == "warning"
    edge = parse_line(SRC, json.dumps({"event": "access", "status": 200}))
    assert edge.get("status") == 200
    assert edge.level == "info"
    assert edge.message == "access"
    plain = parse_line(SRC, "{not json")
    assert not plain.is_json
    assert plain.level is None
    assert plain.get("status") is None


def test_level_and_error_id_filters() -> None:
    warning = parse_line(SRC, json.dumps({"level": "WARNING", "error_id": "e-1"}))
    debug = parse_line(SRC, json.dumps({"level": "DEBUG"}))
    no_level = parse_line(SRC, json.dumps({"event": "listening"}))
    plain = parse_line(SRC, "Traceback e-1")
    assert [
        passes(x, min_level="info", error_id=None) for x in (warning, debug, no_level, plain)
    ] == [
        True,
        False,
        True,
        False,  # a plain line has no level
    ]
    everything = [passes(x, min_level=None, error_id=None) for x in (warning, debug, plain)]
    assert everything == [True, True, True]
    by_error = [passes(x, min_level=None, error_id="e-1") for x in (warning, debug, plain)]
    assert by_error == [True, False, True]
