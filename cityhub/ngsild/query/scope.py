"""Scope queries, the ``scopeQ`` parameter (ETSI GS CIM 009 v1.8.1, clauses 4.18 and 4.19).

A scope is a path such as ``/Madrid/Gardens/ParqueNorte``. In a scopeQ, ``+`` stands for exactly
one level (``/Madrid/+/ParqueNorte``) and a final ``#`` for the scope and everything below it
(``/Madrid/#``); ``/#`` matches every entity that has a scope. ``;`` is AND, ``,`` and ``|`` are
OR, parentheses group.
"""

from __future__ import annotations

from cityhub.errors import BadRequestData
from cityhub.ngsild.query._syntax import Cursor, parse_logical, short
from cityhub.ngsild.query.ast import And, Node, Or, ScopeQuery

_STOP = frozenset(";,|() \t\r\n")
_BAD_LEVEL = frozenset("<>\"'=\\{}[]&?")


def parse_scope_q(text: str) -> Node:
    """Parse a scopeQ into a tree of ``And``, ``Or`` and ``ScopeQuery``.

    Raises:
        BadRequestData: the text is not a scope query; the detail says where and why.
    """
    return parse_logical(Cursor(text, "scopeQ"), _scope, and_ops=";", or_ops=",|")


def _scope(cursor: Cursor) -> ScopeQuery:
    start = cursor.pos
    while not cursor.at_end() and cursor.peek() not in _STOP:
        cursor.pos += 1
    pattern = cursor.text[start : cursor.pos]
    if not pattern:
        raise cursor.unexpected("a scope such as /Madrid/Gardens")
    problem = _problem(pattern)
    if problem is not None:
        raise cursor.error(f"invalid scope {short(pattern)}", start, hint=problem)
    return ScopeQuery(pattern)


def check_scope_pattern(pattern: str) -> list[str]:
    """The levels of a scope pattern, checked: ``+`` is a whole level, ``#`` the last one.

    Raises:
        BadRequestData: the pattern is not a scope path.
    """
    problem = _problem(pattern)
    if problem is not None:
        raise BadRequestData(f"scopeQ: invalid scope {short(pattern)}; {problem}")
    return pattern[1:].split("/")


def _problem(pattern: str) -> str | None:
    if not pattern.startswith("/"):
        return "a scope starts with '/'"
    levels = pattern[1:].split("/")
    for index, level in enumerate(levels):
        if not level:
            return "a level between two '/' is empty"
        if level == "#" and index != len(levels) - 1:
            return "'#' can only be the last level"
        if level not in ("#", "+") and ("#" in level or "+" in level):
            return "'#' and '+' must be a whole level"
        if any(char in _BAD_LEVEL or char < " " for char in level):
            return "scopes may not contain < > \" ' = \\ { } [ ] & ? or control characters"
    return None


def scope_matches(pattern: str, scope: str) -> bool:
    """A scopeQ pattern against one scope (clause 4.18): ``+`` one level, a final ``#`` the
    scope and all below it, ``/#`` any scope."""
    levels = pattern[1:].split("/")
    have = scope[1:].split("/")
    if levels[-1] == "#":
        levels = levels[:-1]
        if levels == [""]:
            levels = []
        if len(have) < len(levels):
            return False
        have = have[: len(levels)]
    elif len(have) != len(levels):
        return False
    return all(want in ("+", got) for want, got in zip(levels, have, strict=True))


def scope_q_matches(node: Node, scopes: tuple[str, ...]) -> bool:
    """Whether something with these scopes (an entity, a registration) matches a scopeQ AST
    (:func:`parse_scope_q`); nothing without a scope does."""
    if isinstance(node, ScopeQuery):
        return any(scope_matches(node.pattern, s) for s in scopes)
    if isinstance(node, And):
        return all(scope_q_matches(n, scopes) for n in node.items)
    if isinstance(node, Or):
        return any(scope_q_matches(n, scopes) for n in node.items)
    return False


__all__ = ["check_scope_pattern", "parse_scope_q", "scope_matches", "scope_q_matches"]
