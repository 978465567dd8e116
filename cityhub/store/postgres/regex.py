"""A caller's regular expression (RE2 syntax, checked by ``cityhub.ngsild.regex``) as a
PostgreSQL regular expression (POSIX ARE) with the same matches.

PostgreSQL runs ``~`` with its own engine. The two syntaxes mostly agree; where the same text
means something else, it is rewritten here, so that a query answers the same on both backends:

- ``\\b``/``\\B`` (word boundary) are ``\\y``/``\\Y`` in PostgreSQL (its ``\\b`` is a backspace),
  and RE2's end of text ``\\z`` is ``\\Z``;
- ``\\d``, ``\\w``, ``\\s`` and their negations are ASCII in RE2, locale-dependent in
  PostgreSQL: they become explicit ASCII classes;
- ``.`` does not match a newline in RE2 (without the ``s`` flag) but does in PostgreSQL:
  it becomes ``[^\\n]``;
- ``\\x{HHHH}`` and ``\\xHH`` become ``\\UHHHHHHHH``, ``\\Q...\\E`` becomes escaped literals,
  and named groups ``(?P<name>...)``/``(?<name>...)`` become plain groups;
- flags at the very start: ``i`` stays, ``m`` (``^``/``$`` at line breaks) becomes
  PostgreSQL's ``w``, ``s`` lets ``.`` match a newline, ``U`` is dropped (greediness changes
  where a match ends, never whether there is one).

What has no counterpart (flags inside the pattern, ``\\pL`` classes, repetition counts over 255)
is left as written: PostgreSQL refuses it and the request gets a 400 naming the regular
expression. PostgreSQL's engine is not the backtracking kind for what RE2 accepts (measured in
``docs/performance.md``: ``^(.+)+X$`` answers in microseconds), and the queries that carry a
caller's pattern run under a statement timeout besides (``store.py``).
"""

from __future__ import annotations

_ASCII = {
    "d": "0-9",
    "w": "0-9A-Za-z_",
    "s": "\\t\\n\\f\\r ",
}
_ANCHORS = {"b": "\\y", "B": "\\Y", "z": "\\Z", "A": "\\A"}
_HEX = frozenset("0123456789abcdefABCDEF")


def to_postgres(pattern: str) -> str:
    """``pattern`` (valid RE2 syntax) rewritten for PostgreSQL's ``~`` (see the module doc)."""
    out: list[str] = []
    pos, dot_all = 0, False
    if pattern.startswith("(?") and ")" in pattern:
        flags = pattern[2 : pattern.index(")")]
        if flags and set(flags) <= set("imsU"):
            pg_flags = ("i" if "i" in flags else "") + ("w" if "m" in flags else "")
            if pg_flags:
                out.append(f"(?{pg_flags})")
            dot_all = "s" in flags
            pos = len(flags) + 3
    n = len(pattern)
    while pos < n:
        char = pattern[pos]
        if char == "\\":
            pos = _escape(pattern, pos, out, in_class=False)
        elif char == "[":
            pos = _bracket(pattern, pos, out)
        elif char == "(" and pattern.startswith(("(?P<", "(?<"), pos):
            out.append("(")
            pos = pattern.index(">", pos) + 1
        elif char == "." and not dot_all:
            out.append("[^\\n]")
            pos += 1
        else:
            out.append(char)
            pos += 1
    return "".join(out)


def _escape(pattern: str, pos: int, out: list[str], *, in_class: bool) -> int:
    """Rewrite the escape at ``pattern[pos]`` (a backslash); returns the position after it."""
    if pos + 1 >= len(pattern):
        out.append("\\\\")
        return pos + 1
    char = pattern[pos + 1]
    lower = char.lower()
    if lower in _ASCII and (char == lower or not in_class):
        chars = _ASCII[lower]
        if in_class:
            out.append(chars)
        else:
            out.append(f"[{chars}]" if char == lower else f"[^{chars}]")
        return pos + 2
    if char in _ANCHORS and not in_class:
        out.append(_ANCHORS[char])
        return pos + 2
    if char == "x":
        return _hex(pattern, pos, out)
    if char == "Q":
        end = pattern.find("\\E", pos + 2)
        stop = len(pattern) if end < 0 else end
        out.extend(c if c.isalnum() else "\\" + c for c in pattern[pos + 2 : stop])
        return stop if end < 0 else end + 2
    out.append(pattern[pos : pos + 2])
    return pos + 2


def _hex(pattern: str, pos: int, out: list[str]) -> int:
    """``\\x{HHHH}`` or ``\\xHH`` at ``pos`` as PostgreSQL's ``\\UHHHHHHHH``."""
    if pattern.startswith("\\x{", pos):
        end = pattern.index("}", pos)
        digits, after = pattern[pos + 3 : end], end + 1
    else:
        digits, after = pattern[pos + 2 : pos + 4], pos + 4
    if not digits or not set(digits) <= _HEX:  # not RE2 syntax either: leave it to refuse
        out.append(pattern[pos:after])
        return after
    out.append(f"\\U{int(digits, 16):08X}")
    return after


def _bracket(pattern: str, pos: int, out: list[str]) -> int:
    """Copy the bracket expression at ``pos``, rewriting its escapes; returns the end."""
    out.append("[")
    pos += 1
    if pattern.startswith("^", pos):
        out.append("^")
        pos += 1
    first = True
    while pos < len(pattern):
        char = pattern[pos]
        if char == "]" and not first:
            out.append("]")
            return pos + 1
        first = False
        if char == "\\":
            pos = _escape(pattern, pos, out, in_class=True)
        elif char == "[" and pattern.startswith("[:", pos) and ":]" in pattern[pos:]:
            end = pattern.index(":]", pos) + 2
            out.append(pattern[pos:end])
            pos = end
        else:
            out.append(char)
            pos += 1
    return pos


__all__ = ["to_postgres"]
