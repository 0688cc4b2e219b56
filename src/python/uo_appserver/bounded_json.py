"""JSON that cannot exhaust the stack: the nesting depth is checked before any parser runs.

CPython's ``json`` decoder recurses once per nested array or object, so a body of 10 000 opening
brackets ends in ``RecursionError``. The app server reads only the small, flat session bodies,
so it first walks the bytes once, iteratively, counting brackets outside strings, and refuses
anything nested deeper than ``MAX_DEPTH`` before ``json.loads`` sees it. ``NaN``/``Infinity`` are
refused too: they are not JSON, and re-encoding them would hand the gateway what it cannot parse.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 64
# Only these bytes change the nesting or string state; the scanner jumps from one to the next.
_SIGNIFICANT = re.compile(rb'[\[\]{}"\\]')
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


class JSONTooDeepError(ValueError):
    """The document nests arrays/objects deeper than the limit."""


def exceeds_depth(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``data`` nests deeper than ``limit``; linear in its length, never recursive."""
    depth = 0
    in_string = False
    escaped = -1  # the index a backslash escapes, skipped inside strings
    for match in _SIGNIFICANT.finditer(data):
        index = match.start()
        byte = data[index]
        if in_string:
            if index == escaped:
                continue
            if byte == _BACKSLASH:
                escaped = index + 1
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes, max_depth: int = MAX_DEPTH) -> object:
    """``json.loads`` for untrusted bytes: ``JSONTooDeepError`` or ``ValueError``, nothing else."""
    if exceeds_depth(data, max_depth):
        raise JSONTooDeepError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data, parse_constant=_refuse_constant)


def dumps(payload: object) -> bytes:
    """Compact JSON; ``ValueError`` for a non-finite float (e.g. ``1e400`` parsed to ``inf``)."""
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()


__all__ = ["MAX_DEPTH", "JSONTooDeepError", "dumps", "exceeds_depth", "loads"]
