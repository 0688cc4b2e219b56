"""The nesting check: brackets inside strings and escaped quotes do not fool it."""

from __future__ import annotations

import pytest

from uo_appserver import bounded_json


def test_counts_only_structural_brackets() -> None:
    assert not bounded_json.exceeds_depth(b'{"a": "[[[[[[", "b": "\\"[[[["}', limit=1)
    assert bounded_json.exceeds_depth(b'{"a": [[1]]}', limit=2)
    assert not bounded_json.exceeds_depth(b'{"a": [[1]]}', limit=3)
    # An escaped backslash ends the escape: the quote after it closes the string.
    assert bounded_json.exceeds_depth(b'["\\\\", [[]]]', limit=2)


def test_ten_thousand_levels_are_refused_without_recursion() -> None:
    with pytest.raises(bounded_json.JSONTooDeepError):
        bounded_json.loads(b"[" * 10_000 + b"]" * 10_000)
    assert bounded_json.loads(b"[" * 64 + b"]" * 64) is not None


@pytest.mark.parametrize("document", [b'{"a": NaN}', b"[Infinity]", b"[-Infinity]", b"{"])
def test_non_json_is_a_value_error(document: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|Expecting|delimiter"):
        bounded_json.loads(document)


def test_non_finite_numbers_are_not_written() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        bounded_json.dumps(bounded_json.loads(b"[1e400]"))
