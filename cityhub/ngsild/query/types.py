"""Entity type selection with the type query language (ETSI GS CIM 009 v1.8.1, clause 4.17).

``type=A,B`` and ``type=A|B`` select entities of type A or B; ``type=A;B`` those with both types;
parentheses group, and AND binds tighter than OR: ``(Building;Home)|Vehicle``. Names may be
terms, CURIEs or full IRIs.
"""

from __future__ import annotations

from cityhub.ngsild.query._syntax import Cursor, parse_logical
from cityhub.ngsild.query.ast import Node, TypeName

# clause 4.6.2 forbids these in names; ',', ';', '|' and parentheses are the query's own syntax
_NAME_STOP = frozenset("<>\"'=;()\\{}[]&?,| \t\r\n")


def parse_type_query(text: str) -> Node:
    """Parse a type query into a tree of ``And``, ``Or`` and ``TypeName``.

    Raises:
        BadRequestData: the text is not a type query; the detail says where and why.
    """
    return parse_logical(Cursor(text, "type"), _type_name, and_ops=";", or_ops=",|")


def _type_name(cursor: Cursor) -> TypeName:
    start = cursor.pos
    while not cursor.at_end() and cursor.peek() not in _NAME_STOP:
        cursor.pos += 1
    if cursor.pos == start:
        raise cursor.unexpected("a type name")
    return TypeName(cursor.text[start : cursor.pos])


__all__ = ["parse_type_query"]
