"""Scope queries, the ``scopeQ`` parameter (ETSI GS CIM 009 v1.8.1, clauses 4.18 and 4.19).

A scope is a path such as ``/Madrid/Gardens/ParqueNorte``. In a scopeQ, ``+`` stands for exactly
one level (``/Madrid/+/ParqueNorte``) and a final ``#`` for the scope and everything below it
(``/Madrid/#``); ``/#`` matches every entity that has a scope. ``;`` is AND, ``,`` and ``|`` are
OR, parentheses group.
"""

from __future__ import annotations

from cityhub.errors import BadRequestData
from cityhub.ngsild.query._syntax import Cursor, parse_logical, short
from cityhub.ngsild.query.ast import Node, ScopeQuery

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


__all__ = ["check_scope_pattern", "parse_scope_q"]
