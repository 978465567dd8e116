"""What the three query languages share: a cursor over the text, error details, and the
``;`` / ``|`` / parentheses structure (clauses 4.9, 4.17, 4.19: AND binds tighter than OR).
"""

from __future__ import annotations

from collections.abc import Callable

from cityhub.errors import BadRequestData
from cityhub.ngsild.query.ast import And, Node, Or

#: Deeper nesting than this is refused, so no input can exhaust the Python stack.
MAX_DEPTH = 32
#: More leaves than this is refused, so the compiled SQL stays within SQLite's limits.
MAX_TERMS = 200
_SHOWN = 120


class Cursor:
    """A position in a query text, and errors that point at it."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0
        self.leaves = 0

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def error(self, message: str, pos: int | None = None, hint: str = "") -> BadRequestData:
        """A BadRequestData naming the language, the problem, the 1-based position and a hint."""
        where = self.pos if pos is None else pos
        shown = self.text if len(self.text) <= _SHOWN else self.text[:_SHOWN] + "..."
        detail = f"{self.what}: {message} at position {where + 1} in {shown!r}"
        return BadRequestData(f"{detail}; {hint}" if hint else detail)

    def unexpected(self, expected: str = "") -> BadRequestData:
        found = "end of text" if self.at_end() else repr(self.text[self.pos])
        return self.error(f"unexpected {found}", hint=f"expected {expected}" if expected else "")


def short(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error detail, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


Leaf = Callable[[Cursor], Node]


def parse_logical(cursor: Cursor, leaf: Leaf, *, and_ops: str, or_ops: str) -> Node:
    """Parse the whole text as leaves joined by AND/OR operators, with parentheses.

    Args:
        cursor: positioned at the start of the text.
        leaf: parses one leaf at the cursor, leaving it just after the leaf.
        and_ops: characters meaning AND.
        or_ops: characters meaning OR.

    Raises:
        BadRequestData: the text is empty, unbalanced, too deep or too long.
    """
    cursor.skip_space()
    if cursor.at_end():
        raise cursor.error("the query is empty")
    node = _or(cursor, leaf, and_ops, or_ops, 0)
    cursor.skip_space()
    if not cursor.at_end():
        raise cursor.unexpected(f"one of {' '.join(and_ops + or_ops)} or the end")
    return node


def _or(cursor: Cursor, leaf: Leaf, and_ops: str, or_ops: str, depth: int) -> Node:
    items = [_and(cursor, leaf, and_ops, or_ops, depth)]
    cursor.skip_space()
    while not cursor.at_end() and cursor.peek() in or_ops:
        cursor.pos += 1
        items.append(_and(cursor, leaf, and_ops, or_ops, depth))
        cursor.skip_space()
    return _join(Or, items)


def _and(cursor: Cursor, leaf: Leaf, and_ops: str, or_ops: str, depth: int) -> Node:
    items = [_primary(cursor, leaf, and_ops, or_ops, depth)]
    cursor.skip_space()
    while not cursor.at_end() and cursor.peek() in and_ops:
        cursor.pos += 1
        items.append(_primary(cursor, leaf, and_ops, or_ops, depth))
        cursor.skip_space()
    return _join(And, items)


def _primary(cursor: Cursor, leaf: Leaf, and_ops: str, or_ops: str, depth: int) -> Node:
    cursor.skip_space()
    if cursor.peek() == "(":
        if depth >= MAX_DEPTH:
            raise cursor.error(f"parentheses nested deeper than {MAX_DEPTH} levels")
        opened = cursor.pos
        cursor.pos += 1
        node = _or(cursor, leaf, and_ops, or_ops, depth + 1)
        cursor.skip_space()
        if cursor.peek() != ")":
            if cursor.at_end():
                raise cursor.error("'(' is never closed", opened)
            raise cursor.unexpected("')'")
        cursor.pos += 1
        return node
    if cursor.at_end() or cursor.peek() in and_ops + or_ops + ")":
        raise cursor.unexpected("a term or '('")
    cursor.leaves += 1
    if cursor.leaves > MAX_TERMS:
        raise cursor.error(f"more than {MAX_TERMS} terms; split the query")
    return leaf(cursor)


def _join(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))
