"""Input no UnifyOps service can store or answer with, found before any handler sees it.

PostgreSQL text cannot hold NUL (asyncpg fails mid-query), a lone UTF-16 surrogate cannot be
encoded for the database or a response, and ``NaN``/``Infinity``/``1e400`` (which Python's JSON
decoder accepts and turns into non-finite floats) cannot be encoded as JSON again. Deep nesting
exhausts the recursion of every layer that walks the document. Each of these is the caller's
mistake, so each is a 422 here rather than a 5xx deep inside a handler.

The functions return the problems found (empty when the input is acceptable); they never echo the
offending value, which may be a password.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

# Far deeper than any UnifyOps schema, far shallower than any recursion limit.
MAX_JSON_DEPTH = 64
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    """One rejected part of a request, in the shape of a field error of the uniform body."""

    loc: tuple[str, ...]
    msg: str
    type: str

    def as_error(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class _RejectedError(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.msg)
        self.problem = problem


def text_problem(value: str, loc: tuple[str, ...]) -> Problem | None:
    """NUL or a lone surrogate in ``value``: text that cannot be stored or sent back."""
    if _UNSTORABLE.search(value):
        return Problem(loc, "Text must not contain NUL or unpaired surrogate characters", "text")
    return None


def _reject_constant(name: str) -> Any:
    # Called by the decoder for NaN, Infinity and -Infinity, which JSON itself does not allow.
    raise _RejectedError(Problem(("body",), "Numbers must be finite", "finite_number"))


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):  # 1e400 overflows to inf
        raise _RejectedError(Problem(("body",), "Numbers must be finite", "finite_number"))
    return number


def json_problems(body: bytes) -> list[Problem] | None:
    """Problems of a JSON body; ``None`` when it is not JSON at all (the framework says so)."""
    try:
        document = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except _RejectedError as rejected:
        return [rejected.problem]
    except json.JSONDecodeError:
        return None
    except RecursionError:
        return [Problem(("body",), "JSON is nested too deeply", "json_depth")]
    except ValueError:  # not UTF-8, or an integer with more digits than Python converts
        return [Problem(("body",), "Body is not acceptable JSON", "json_invalid")]
    return _walk(document)


def _walk(document: Any) -> list[Problem]:
    # Iterative, so a deep document costs no recursion here.
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ("body",))]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_JSON_DEPTH:
            return [Problem(("body",), "JSON is nested too deeply", "json_depth")]
        if isinstance(value, str):
            if problem := text_problem(value, loc):
                problems.append(problem)
        elif isinstance(value, dict):
            for key, item in value.items():
                if text_problem(key, loc):
                    problems.append(Problem(loc, "Keys must not contain NUL characters", "key"))
                    continue
                stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, str(index))) for index, item in enumerate(value))
    return problems


def form_problems(body: bytes) -> list[Problem]:
    """Problems of an ``application/x-www-form-urlencoded`` body."""
    return _pairs_problems(body.decode("latin-1"), "body")


def query_problems(query_string: bytes) -> list[Problem]:
    return _pairs_problems(query_string.decode("latin-1"), "query")


def _pairs_problems(encoded: str, where: str) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in parse_qsl(encoded, keep_blank_values=True, errors="replace"):
        loc = (where, key) if not text_problem(key, (where,)) else (where,)
        if text_problem(key, loc) or text_problem(value, loc):
            problems.append(Problem(loc, "Text must not contain NUL characters", "text"))
    return problems


def path_problems(path: str) -> list[Problem]:
    problem = text_problem(path, ("path",))
    return [problem] if problem else []


__all__ = [
    "MAX_JSON_DEPTH",
    "Problem",
    "form_problems",
    "json_problems",
    "path_problems",
    "query_problems",
    "text_problem",
]
