"""GitHub Actions expressions (``${{ ... }}``), evaluated as the Actions runner does, for the
workflow runner in workflow_runner.py.

Covered: literals (``'text'`` with ``''`` escapes, numbers, ``true``/``false``/``null``), context
look-ups (``a.b``, ``a['b']``), ``!``, ``==``/``!=`` (strings compared case-insensitively, other
mixed types as numbers), ``<``/``<=``/``>``/``>=``, ``&&``/``||`` (returning an operand, like
JavaScript), parentheses, and the functions ``fromJSON``, ``toJSON``, ``format``, ``contains``,
``startsWith``, ``endsWith``, ``join`` and the status checks ``success``, ``failure``, ``always``,
``cancelled``.

Anything else is an :class:`ExpressionError`, never an empty string: an unknown context, function
or operator, or a key a context does not hold. The exceptions are the contexts GitHub itself
answers with null for a missing key (an unset secret, an output a step did not write, a field of
the event payload): those are :class:`Lenient` mappings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

EMBEDDED = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\],*])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


class ExpressionError(ValueError):
    """An expression this runner cannot evaluate exactly as GitHub would."""


class Lenient(dict):  # type: ignore[type-arg]
    """A context whose missing keys are null, as on GitHub (secrets, step outputs, the event)."""


@dataclass(frozen=True)
class Status:
    """What the status functions answer where the expression is evaluated."""

    success: bool = True
    failure: bool = False


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return 0.0
        try:
            return float(int(stripped, 0)) if stripped.lower().startswith("0x") else float(stripped)
        except ValueError:
            return math.nan
    return math.nan


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "") or isinstance(value, (dict, list))


def to_text(value: Any) -> str:
    """How a value is written into a string (``run:``, ``env:``, ``with:``, ``name:``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        return left is right
    if type(left) is type(right) or (left is None and right is None):
        return bool(left == right)
    return to_number(left) == to_number(right)


def _format(template: str, *args: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        index = int(match.group(1))
        if index >= len(args):
            raise ExpressionError(f"format({template!r}): no argument {index}")
        return to_text(args[index])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", replace, template)


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(_equal(item, needle) for item in haystack)
    return to_text(needle).casefold() in to_text(haystack).casefold()


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: Status) -> None:
        self.text, self.contexts, self.status = text, contexts, status
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r} in {self.text!r}, found {token[1]!r}")
        self.position += 1
        return token

    def parse(self) -> Any:
        value = self.disjunction()
        if self.peek()[0] != "end":
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return value

    def disjunction(self) -> Any:
        value = self.conjunction()
        while self.peek()[1] == "||":
            self.take()
            right = self.conjunction()
            value = value if truthy(value) else right
        return value

    def conjunction(self) -> Any:
        value = self.equality()
        while self.peek()[1] == "&&":
            self.take()
            right = self.equality()
            value = right if truthy(value) else value
        return value

    def equality(self) -> Any:
        value = self.comparison()
        while self.peek()[1] in ("==", "!="):
            operator = self.take()[1]
            same = _equal(value, self.comparison())
            value = same if operator == "==" else not same
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek()[1] in ("<", "<=", ">", ">="):
            operator, right = self.take()[1], self.unary()
            if isinstance(value, str) and isinstance(right, str):
                a: Any = value.casefold()
                b: Any = right.casefold()
            else:
                a, b = to_number(value), to_number(right)
            value = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]
        return value

    def unary(self) -> Any:
        if self.peek()[1] == "!":
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value, path = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                kind, key = self.take()
                if kind != "name":
                    raise ExpressionError(f"expected a property name after {path!r}")
            else:
                key = to_text(self.disjunction())
                self.take("]")
            value, path = self.member(value, key, path), f"{path}.{key}"
        return value

    def member(self, value: Any, key: str, path: str) -> Any:
        if isinstance(value, list) and key.isdigit():
            return value[int(key)] if int(key) < len(value) else None
        if isinstance(value, Mapping):
            for name, item in value.items():
                if name.casefold() == key.casefold():  # contexts are case-insensitive
                    return item
            if isinstance(value, Lenient):
                return None
            known = ", ".join(sorted(value)) or "nothing"
            raise ExpressionError(f"{path} has no {key!r} (it holds: {known}) in {self.text!r}")
        if value is None:
            return None
        raise ExpressionError(f"{path} is {to_text(value)!r}, which has no property {key!r}")

    def primary(self) -> tuple[Any, str]:
        kind, text = self.take()
        if kind == "number":
            return float(text), text
        if kind == "string":
            return text[1:-1].replace("''", "'"), text
        if text == "(":
            value = self.disjunction()
            self.take(")")
            return value, "(...)"
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true", text
        if text == "null":
            return None, text
        if self.peek()[1] == "(":
            return self.call(text), f"{text}()"
        for name, value in self.contexts.items():
            if name.casefold() == text.casefold():
                return value, text
        known = ", ".join(sorted(self.contexts))
        raise ExpressionError(f"unknown context {text!r} in {self.text!r} (known here: {known})")

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek()[1] != ")":
            args.append(self.disjunction())
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        function = self.functions().get(name.casefold())
        if function is None:
            raise ExpressionError(f"unknown function {name}() in {self.text!r}")
        try:
            return function(*args)
        except TypeError as exc:
            raise ExpressionError(f"{name}(): {exc} in {self.text!r}") from exc

    def functions(self) -> dict[str, Callable[..., Any]]:
        def from_json(text: Any) -> Any:
            try:
                return json.loads(to_text(text))
            except json.JSONDecodeError as exc:
                raise ExpressionError(f"fromJSON: not JSON: {to_text(text)!r} ({exc})") from exc

        return {
            "fromjson": from_json,
            "tojson": lambda value: json.dumps(value, indent=2),
            "format": lambda template, *args: _format(to_text(template), *args),
            "contains": _contains,
            "startswith": lambda a, b: to_text(a).casefold().startswith(to_text(b).casefold()),
            "endswith": lambda a, b: to_text(a).casefold().endswith(to_text(b).casefold()),
            "join": lambda items, sep=",": (
                to_text(sep).join(map(to_text, items))
                if isinstance(items, list)
                else to_text(items)
            ),
            "success": lambda: self.status.success,
            "failure": lambda: self.status.failure,
            "always": lambda: True,
            "cancelled": lambda: False,
        }


def evaluate(text: str, contexts: Mapping[str, Any], status: Status = Status()) -> Any:
    """The value of one expression (the text inside ``${{ }}``)."""
    return _Parser(text, contexts, status).parse()


def substitute(value: Any, contexts: Mapping[str, Any], status: Status = Status()) -> Any:
    """``value`` with every ``${{ ... }}`` replaced. A string that is exactly one expression keeps
    the expression's type (so ``matrix: ${{ fromJSON(...) }}`` gives an object)."""
    if not isinstance(value, str):
        return value
    whole = EMBEDDED.fullmatch(value.strip())
    if whole is not None:
        return evaluate(whole.group(1), contexts, status)
    return EMBEDDED.sub(lambda m: to_text(evaluate(m.group(1), contexts, status)), value)


def condition(text: Any, contexts: Mapping[str, Any], status: Status) -> bool:
    """An ``if:``: written with or without ``${{ }}``; without a status function in it, GitHub
    reads it as ``success() && (...)``."""
    if text is None:
        return status.success
    if isinstance(text, bool):
        return text and status.success
    source = str(text).strip()
    whole = EMBEDDED.fullmatch(source)
    if whole is not None:
        source = whole.group(1)
    elif "${{" in source:
        raise ExpressionError(f"if: mixes text and expressions: {source!r}")
    uses_status = re.search(r"\b(success|failure|always|cancelled)\s*\(", source) is not None
    value = truthy(evaluate(source, contexts, status))
    return value if uses_status else status.success and value


__all__ = [
    "EMBEDDED",
    "STATUS_FUNCTIONS",
    "ExpressionError",
    "Lenient",
    "Status",
    "condition",
    "evaluate",
    "substitute",
    "to_text",
    "truthy",
]
