"""The NGSI-LD Query Language, the ``q`` parameter (ETSI GS CIM 009 v1.8.1, clause 4.9).

    q          = term *( (";" / "|") term ), with "(" q ")" for grouping; ";" binds tighter
    term       = path [ op value ] / "!" path           no op: "the attribute exists";
                                                        "!": "the attribute does not exist"
    path       = name *( "." name ) *( "[" key "]" )   a.b.observedAt, a[x][y], a.b[x]
    op         = "==" / "!=" / ">" / ">=" / "<" / "<=" / "~=" / "!~="
    value      = scalar / scalar ".." scalar / scalar 1*( "," scalar )
    scalar     = number / quoted string / true / false / date-time / date / time / URI

Names may be terms, CURIEs or full IRIs (``https://ex.org/ns#temp``): a dot splits the path only
where the IRI cannot continue. ``~=`` and ``!~=`` take a regular expression, quoted or not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.query._syntax import Cursor, parse_logical, short
from cityhub.ngsild.query.ast import (
    ABSENT,
    MEMBER_NAMES,
    AttrPath,
    Comparison,
    DateTimeValue,
    DateValue,
    Node,
    Range,
    Scalar,
    TimeValue,
    UriValue,
    Value,
    ValueList,
    canonical_datetime,
)

_OPERATORS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
_ORDER_OPS = frozenset({">", ">=", "<", "<="})
_REGEX_OPS = frozenset({"~=", "!~="})
# characters that end a name in a path (besides the start of an operator)
_NAME_STOP = frozenset(";|()[]\"',=<> \t\r\n")
_VALUE_STOP = frozenset(';|()," \t\r\n')
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_SCHEME_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", re.ASCII)
_DATETIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T[\d:.,]+(Z|[+-][\d:]+)?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?", re.ASCII)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>{}|\\^`]+")


def parse_q(text: str) -> Node:
    """Parse a q expression into a tree of ``And``, ``Or`` and ``Comparison``.

    Args:
        text: the q parameter, already percent-decoded.

    Returns:
        The tree, with names as written (expand them with ``ast.expand_q``).

    Raises:
        BadRequestData: the text is not a q expression; the detail says where and why.
    """
    return parse_logical(Cursor(text, "q"), _term, and_ops=";", or_ops="|")


def _term(cursor: Cursor) -> Comparison:
    if cursor.peek() == "!":  # clause 4.9 (v1.9.1): "!attr" holds when attr does not exist
        start = cursor.pos
        cursor.pos += 1
        path = _path(cursor)
        cursor.skip_space()
        if _operator(cursor) is not None:
            raise cursor.error(
                "'!' asks that an attribute does not exist and takes no comparison: write"
                " !name, or name!=value",
                start,
            )
        return Comparison(path, ABSENT)
    path = _path(cursor)
    cursor.skip_space()
    op = _operator(cursor)
    if op is None:
        return Comparison(path)
    cursor.skip_space()
    if op in _REGEX_OPS:
        return Comparison(path, op, _regex(cursor))
    return Comparison(path, op, _value(cursor, op))


def _path(cursor: Cursor) -> AttrPath:
    start = cursor.pos
    text = cursor.text
    while cursor.pos < len(text):
        char = text[cursor.pos]
        if char in _NAME_STOP or _operator_at(text, cursor.pos) is not None:
            break
        cursor.pos += 1
    raw = text[start : cursor.pos]
    if not raw:
        raise cursor.unexpected("an attribute name")
    names = _split_names(raw)
    if not all(names):
        raise cursor.error(f"empty name in attribute path {short(raw)}", start)
    keys: list[str] = []
    while cursor.peek() == "[":
        opened = cursor.pos
        cursor.pos += 1
        key_start = cursor.pos
        while (
            cursor.pos < len(text) and text[cursor.pos] not in '[]"\\' and text[cursor.pos] >= " "
        ):
            cursor.pos += 1
        if cursor.peek() != "]":
            if cursor.at_end():
                raise cursor.error("'[' is never closed", opened)
            raise cursor.unexpected("']'; compound keys may not contain [ ] \" or \\")
        key = text[key_start : cursor.pos]
        if not key:
            raise cursor.error("empty key in '[]'", opened)
        keys.append(key)
        cursor.pos += 1
    if cursor.peek() == ".":
        raise cursor.error("a '.' path cannot follow a '[...]' key")
    return AttrPath(names[0], tuple(names[1:]), tuple(keys))


def _split_names(raw: str) -> list[str]:
    """Split ``a.b.c`` at its dots, keeping the dots that belong to a full IRI."""
    names: list[str] = []
    start = 0
    while True:
        end = _name_end(raw, start)
        names.append(raw[start:end])
        if end >= len(raw):
            return names
        start = end + 1


def _name_end(raw: str, start: int) -> int:
    iri = _SCHEME_AUTHORITY.match(raw, start)
    if iri is None:
        dot = raw.find(".", start)
        return len(raw) if dot < 0 else dot
    search = iri.end()  # dots in the authority (ex.org) never split
    while True:
        dot = raw.find(".", search)
        if dot < 0:
            return len(raw)
        rest = raw[dot + 1 :]
        following = rest.split(".", 1)[0]
        # the IRI goes on while what follows the dot still has '/' or '#' and is not a new IRI
        if _SCHEME.match(rest) or not ("/" in following or "#" in following):
            return dot
        search = dot + 1


def _operator_at(text: str, pos: int) -> str | None:
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return op
    return None


def _operator(cursor: Cursor) -> str | None:
    if cursor.at_end() or cursor.peek() in ";|)":
        return None
    op = _operator_at(cursor.text, cursor.pos)
    if op is None:
        if cursor.peek() == "=":
            raise cursor.error("'=' is not an operator", hint="compare with '=='")
        raise cursor.unexpected("an operator (== != > >= < <= ~= !~=), ';', '|' or ')'")
    cursor.pos += len(op)
    return op


def _value(cursor: Cursor, op: str) -> Value:
    start = cursor.pos
    first = _scalar(cursor)
    if cursor.peek(2) == "..":
        cursor.pos += 2
        second = _scalar(cursor)
        if op not in ("==", "!="):
            raise cursor.error(f"a range needs == or !=, not {op}", start)
        if _kind(first) != _kind(second) or _kind(first) in ("boolean", "URI"):
            raise cursor.error(
                "a range needs two numbers, two strings, two date-times, two dates or two times",
                start,
            )
        return Range(first, second)
    if cursor.peek() == ",":
        items = [first]
        while cursor.peek() == ",":
            cursor.pos += 1
            items.append(_scalar(cursor))
        if op not in ("==", "!="):
            raise cursor.error(f"a list of values needs == or !=, not {op}", start)
        return ValueList(tuple(items))
    if op in _ORDER_OPS and _kind(first) in ("boolean", "URI"):
        raise cursor.error(f"a {_kind(first)} can only be compared with == or !=", start)
    return first


def _kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, DateTimeValue):
        return "date-time"
    if isinstance(value, DateValue):
        return "date"
    if isinstance(value, TimeValue):
        return "time"
    if isinstance(value, UriValue):
        return "URI"
    return "string"


def _scalar(cursor: Cursor) -> Scalar:
    if cursor.peek() == '"':
        return _quoted(cursor)
    start = cursor.pos
    text = cursor.text
    while cursor.pos < len(text) and text[cursor.pos] not in _VALUE_STOP:
        if text.startswith("..", cursor.pos):
            break
        cursor.pos += 1
    token = text[start : cursor.pos]
    if not token:
        raise cursor.unexpected("a value")
    return _classify(cursor, token, start)


def _classify(cursor: Cursor, token: str, start: int) -> Scalar:
    if token in ("true", "false"):
        return token == "true"
    if _INTEGER.fullmatch(token) and len(token) <= 21:
        number = int(token)
        # the integers the hub stores exactly (cityhub.ngsild.json_limits): compared exactly
        if -(2**63) <= number <= 2**64 - 1:
            return number
    if _FLOAT.fullmatch(token):  # longer integers compare as floats
        real = float(token)
        if not math.isfinite(real):
            raise cursor.error(f"number {short(token)} is out of range", start)
        return real
    if _DATETIME_SHAPE.fullmatch(token):
        if canonical_datetime(token) is None:
            raise cursor.error(f"{short(token)} is not a valid ISO 8601 date-time", start)
        return DateTimeValue(token)
    if _DATE.fullmatch(token):
        return DateValue(token)
    if _TIME.fullmatch(token):
        return TimeValue(token)
    if _URI.fullmatch(token):
        return UriValue(token)
    raise cursor.error(
        f"{short(token)} is not a number, true/false, date-time or URI",
        start,
        hint="put text in double quotes",
    )


def _quoted(cursor: Cursor) -> str:
    """A double-quoted string; ``\\"`` is a quote, ``\\\\`` a backslash, other escapes stay."""
    opened = cursor.pos
    cursor.pos += 1
    text = cursor.text
    out: list[str] = []
    while cursor.pos < len(text):
        char = text[cursor.pos]
        if char == '"':
            cursor.pos += 1
            return "".join(out)
        if char == "\\" and cursor.pos + 1 < len(text):
            following = text[cursor.pos + 1]
            out.append(following if following in '"\\' else char + following)
            cursor.pos += 2
            continue
        out.append(char)
        cursor.pos += 1
    raise cursor.error("string is never closed (missing '\"')", opened)


def _regex(cursor: Cursor) -> str:
    start = cursor.pos
    if cursor.peek() == '"':
        pattern = _quoted(cursor)
    else:
        pattern = _bare_regex(cursor)
    if not pattern:
        raise cursor.unexpected("a regular expression")
    why = regex.problem(pattern)
    if why is not None:
        raise cursor.error(f"invalid regular expression {short(pattern)}", start, hint=why)
    return pattern


def _bare_regex(cursor: Cursor) -> str:
    """An unquoted pattern: up to ';', '|' or an unmatched ')' outside its own groups."""
    text = cursor.text
    start = cursor.pos
    depth = 0
    in_class = False
    pos = start
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif char in ";|" and depth == 0:
            break
        pos += 1
    cursor.pos = min(pos, len(text))
    return text[start : cursor.pos]


def check_comparison(node: Comparison) -> None:
    """The comparisons q's evaluators refuse (the SQL compilers of ``cityhub.store.qsql`` and
    the evaluator over entities in memory, ``cityhub.ngsild.query.evaluate``): the same rules
    for both, so that both refuse the same q with the same detail.

    Raises:
        BadRequestData: the operator and the value do not go together.
    """
    op, value = node.op, node.value
    if op is None:
        if value is not None:
            raise BadRequestData("q: a value needs an operator")
        return
    if op in _REGEX_OPS:
        if not isinstance(value, str):
            raise BadRequestData(f"q: {op} needs a regular expression")
        regex.compile_pattern(value, f"q ({op})")
        return
    if op not in ("==", "!=", *_ORDER_OPS):
        raise BadRequestData(f"q: unknown operator {op!r}")
    if value is None:
        raise BadRequestData(f"q: {op} needs a value")
    if isinstance(value, Range | ValueList) and op not in ("==", "!="):
        raise BadRequestData(f"q: ranges and lists need == or !=, not {op}")
    if op not in ("==", "!=") and isinstance(value, bool | UriValue):
        raise BadRequestData(f"q: {value!r} can only be compared with == or !=")


__all__ = ["check_comparison", "parse_q"]


def rename_q(text: str, rename: Callable[[str, bool], str]) -> str:
    """``text`` (a q expression) with the names of its attribute paths replaced by
    ``rename(name, first)`` (``first``: the attribute itself, else a sub-attribute; instance
    members such as ``observedAt`` are kept), values and operators left as written: the
    same query in other terms (a forwarded request compacted with another @context).

    Raises:
        BadRequestData: the text is not a q expression.
    """
    spans: list[tuple[int, int]] = []

    def term(cursor: Cursor) -> Comparison:
        start = cursor.pos + (1 if cursor.peek() == "!" else 0)
        end = start
        while end < len(text) and text[end] not in _NAME_STOP and _operator_at(text, end) is None:
            end += 1
        spans.append((start, end))
        return _term(cursor)

    parse_logical(Cursor(text, "q"), term, and_ops=";", or_ops="|")
    out: list[str] = []
    last = 0
    for start, end in spans:
        names = _split_names(text[start:end])
        renamed = [rename(names[0], True)]
        renamed += [n if n in MEMBER_NAMES else rename(n, False) for n in names[1:]]
        out += [text[last:start], ".".join(renamed)]
        last = end
    out.append(text[last:])
    return "".join(out)
