"""Statements laid out as ``ruff format`` lays them out, without ruff (the built `uo` has none).

For what Alembic renders in a migration body: calls, lists, tuples, dicts and literals, one
statement a line. A statement that fits in ``LINE_LENGTH`` stays on one line; one that does not is
split at its outermost brackets, one element a line with a trailing comma, each element laid out
the same way at its deeper indent. The trailing comma is "magic" to ruff: it keeps the split as
written, so the output is stable under ``ruff format`` (a test holds it to that).
"""

from __future__ import annotations

import ast
import io
import tokenize

LINE_LENGTH = 100
INDENT = "    "


def _literal(value: str) -> str:
    """A string literal as ruff writes it: double quotes unless the text holds more double
    quotes than single ones."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    written = repr(value)
    if written[0] == quote:
        return written
    out, body, i = [], written[1:-1], 0
    while i < len(body):
        pair = body[i : i + 2]
        if pair == "\\" + written[0]:
            out.append(written[0])
            i += 2
        elif body[i] == "\\":
            out.append(pair)
            i += 2
        else:
            out.append("\\" + quote if body[i] == quote else body[i])
            i += 1
    return quote + "".join(out) + quote


def _flat(node: ast.AST) -> str:
    """ast.unparse (one line), with string literals quoted as ruff quotes them."""
    text = ast.unparse(node)
    out, done = [], 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING and token.string[:1] in "'\"":
            start, end = token.start[1], token.end[1]
            out += [text[done:start], _literal(ast.literal_eval(token.string))]
            done = end
    return "".join(out) + text[done:]


def _brackets(node: ast.expr) -> tuple[str, str] | None:
    """Where a node can be split: a call with arguments, a list or tuple with elements."""
    if isinstance(node, ast.Call) and (node.args or node.keywords):
        return f"{_flat(node.func)}(", ")"
    if isinstance(node, ast.List) and node.elts:
        return "[", "]"
    if isinstance(node, ast.Tuple) and node.elts:
        return "(", ")"
    return None


def _children(node: ast.expr) -> list[tuple[str, ast.expr]]:
    """(prefix, expression) of each element, to lay out again one level deeper."""
    if isinstance(node, ast.Call):
        return [("", arg) for arg in node.args] + [
            (f"{kw.arg}=" if kw.arg else "**", kw.value) for kw in node.keywords
        ]
    assert isinstance(node, (ast.List, ast.Tuple))
    return [("", e) for e in node.elts]


def _layout(prefix: str, node: ast.expr, suffix: str, indent: str) -> str:
    flat = f"{indent}{prefix}{_flat(node)}{suffix}"
    brackets = _brackets(node)
    if len(flat) <= LINE_LENGTH or brackets is None:
        return flat
    opening, closing = brackets
    inner = "\n".join(
        _layout(child_prefix, child, ",", indent + INDENT)
        for child_prefix, child in _children(node)
    )
    return f"{indent}{prefix}{opening}\n{inner}\n{indent}{closing}{suffix}"


def format_statements(code: str, indent: str = INDENT) -> str:
    """Each top-level statement of ``code`` laid out at ``indent``."""
    lines = []
    for statement in ast.parse(code).body:
        if isinstance(statement, ast.Expr):
            lines.append(_layout("", statement.value, "", indent))
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = _flat(statement.targets[0])
            lines.append(_layout(f"{target} = ", statement.value, "", indent))
        else:
            lines.append(indent + _flat(statement))
    return "\n".join(lines)


__all__ = ["LINE_LENGTH", "format_statements"]
