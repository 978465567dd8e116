"""Limits on the JSON a client sends, beyond RFC 8259: how deep it nests, how large its
integers are. Both are checked where a body enters the hub, before anything recurses over it
or writes it (issue 22 items 3 and 7).

**Nesting.** A document (an entity, an attribute, a subscription, a registration, an @context
document, one entity of a batch) may nest JSON objects and arrays at most
:data:`MAX_JSON_DEPTH` levels deep, the document itself being level 1. The hub's JSON encoder
(orjson) writes at most 255 levels, and what the hub stores and sends wraps a document in
further levels (the stored attribute map, a query's array, a notification's ``data``, linked
entities inlined up to ``joinLevel`` 8, a GeoJSON FeatureCollection...), so a client's
document has to stay well below it; 64 levels are more than any data model needs (a GeoJSON
MultiPolygon value is 7 levels deep in its entity). Deeper is BadRequestData naming the
limit and where the document is too deep.

**Integers.** JSON numbers have no range (RFC 8259 section 6); the hub keeps an integer
exactly when it fits in 64 bits, signed or unsigned (-2^63 .. 2^64-1: what the JSON parser
returns as an integer, SQLite stores as one and PostgreSQL's jsonb keeps as a numeric), and
answers BadRequestData for a longer one, which it could only round to a float. Integers
beyond 2^53 are kept exactly too, though RFC 8259 warns that some clients (JavaScript) read
them rounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from cityhub.errors import BadRequestData

#: Most levels of JSON objects and arrays one document may nest (the document is level 1).
MAX_JSON_DEPTH = 64

#: The integers kept exactly (64-bit signed or unsigned).
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**64 - 1


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # nesting is nesting, whichever the bracket
_ESCAPE = re.compile(rb"\\.", re.DOTALL)


def text_depth(text: bytes, stop: int = MAX_JSON_DEPTH) -> int:
    """How many levels of objects and arrays the JSON text ``text`` nests, counted up to
    ``stop + 1`` (enough to tell "too deep"). C-speed steps only: escapes and strings are cut
    out, the brackets kept (as one kind), then each pass removes the innermost pairs, so the
    number of passes is the depth. ``text`` must be valid JSON (the caller parsed it).

    Strings are cut out in one of two ways. Commonly no string holds a bracket: then keeping
    only brackets and quotes leaves each string as ``""``, and removing those leaves no quote.
    Otherwise a quote stays (the opening quote of the first string that holds a bracket has a
    bracket after it, and only whole strings before it), and the text is cut at its quotes."""
    if b"\\" in text:
        text = _ESCAPE.sub(b"", text)
    brackets = text.translate(_ONE_KIND, _NOT_MARKS).replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(text.split(b'"')[::2]).translate(_ONE_KIND, _NOT_BRACKETS)
    depth = 0
    while brackets and depth <= stop:
        brackets = brackets.replace(b"[]", b"")  # one level: pairs formed by it stay
        depth += 1
    return depth


def _too_deep(value: Any, limit: int) -> bool:
    if type(value) is not dict and type(value) is not list:
        return False
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True  # orjson writes at most 255 levels (or an integer past 64 bits)
    return text_depth(text, limit) > limit


def _deep_path(value: Any, limit: int) -> list[str]:
    """The members and indexes down to the first container past ``limit`` (the failure
    path only: kept apart so the check itself builds no paths)."""
    stack: list[tuple[Any, int, list[str]]] = [(value, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return path
        items = node.items() if type(node) is dict else enumerate(node)
        for key, child in items:
            if type(child) is dict or type(child) is list:
                step = f"[{key}]" if type(key) is int else str(key)
                stack.append((child, depth + 1, [*path, step]))
    return []


def _shown(path: list[str]) -> str:
    text = ""
    for step in path[:4]:
        text += step if step.startswith("[") or not text else "." + step
    return text + ("..." if len(path) > 4 else "")


def check_depth(value: Any, what: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """``value`` when it nests at most ``limit`` levels of objects and arrays.

    Args:
        value: a parsed JSON document.
        what: what it is, for the detail ("the body", "the entity", ...).
        limit: the most levels accepted.

    Raises:
        BadRequestData: the detail names the limit and the path where it is passed.
    """
    if _too_deep(value, limit):
        _raise_too_deep(value, what, limit)
    return value


def _raise_too_deep(value: Any, what: str, limit: int) -> None:
    where = _shown(_deep_path(value, limit))
    raise BadRequestData(
        f"{what} nests JSON objects and arrays more than {limit} levels deep (at {where}); "
        f"at most {limit} are accepted"
    )


def check_document(raw: bytes, parsed: Any, what: str = "the body", *, items: bool = False) -> Any:
    """The checks of this module on a request body, given its text and its parse.

    Args:
        raw: the JSON text as received.
        parsed: what the JSON parser made of it.
        what: for the detail.
        items: the body is an array of documents (a batch), whose depth the caller checks
            one by one (:func:`check_depth`), so one deep entity is that entity's error.

    Raises:
        BadRequestData: too deep, or an integer outside the 64-bit range.
    """
    if not items or type(parsed) is not list:
        # a text with at most ``limit`` brackets cannot nest deeper (strings only add some)
        if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and (
            text_depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH
        ):
            _raise_too_deep(parsed, what, MAX_JSON_DEPTH)
    check_integers(raw, what)
    return parsed


# A run of 19 digits is the shortest literal that can pass the 64-bit range: only a body
# that has one is parsed a second time to look at its integers (found with C-speed steps:
# every digit made "0", then a substring search).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


class _Overflow(str):
    """The text of an integer literal outside the kept range, found by :func:`check_integers`."""


def _parse_int(literal: str) -> int | _Overflow:
    if len(literal) > 21:  # longer than any 64-bit integer (and int() refuses 4300+ digits)
        return _Overflow(literal)
    number = int(literal)
    return number if MIN_INTEGER <= number <= MAX_INTEGER else _Overflow(literal)


def check_integers(raw: bytes | str, what: str = "the body") -> None:
    """BadRequestData when the JSON text ``raw`` has an integer outside the 64-bit range
    (which its parse turned into a float); the detail names where it is.

    The common body has no 19-digit run and costs one regular-expression scan.
    """
    text = raw.encode() if isinstance(raw, str) else raw
    if _LONG_RUN not in text.translate(_DIGITS_AS_ZERO):
        return
    try:
        parsed = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise BadRequestData(
            f"{what} nests too deep to check its integers; at most {MAX_JSON_DEPTH} levels "
            "of objects and arrays are accepted in one document"
        ) from None
    except ValueError:
        return  # the caller's parser decides what is not JSON
    stack: list[tuple[Any, list[str]]] = [(parsed, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Overflow):
            digits = str(node)
            shown = digits if len(digits) <= 40 else digits[:20] + "..." + digits[-5:]
            raise BadRequestData(
                f"{what} has the integer {shown} (at {_shown(path) or 'its top level'}), "
                "outside the range kept exactly (-2^63 to 2^64-1); send it as a string, "
                "or as a float if an approximation will do"
            )
        if type(node) is dict:
            stack.extend((child, [*path, str(key)]) for key, child in node.items())
        elif type(node) is list:
            stack.extend((child, [*path, f"[{i}]"]) for i, child in enumerate(node))


__all__ = [
    "MAX_INTEGER",
    "MAX_JSON_DEPTH",
    "MIN_INTEGER",
    "check_depth",
    "check_document",
    "check_integers",
    "text_depth",
]
