"""Regular expressions that come from callers: ``idPattern`` and the ``~=``/``!~=`` terms of q.

Every such pattern is checked and run here, with RE2 (the ``google-re2`` binding), never with
Python's backtracking ``re``: RE2 runs in time linear in the text, whatever the pattern
(``^(.+)+X$`` against a long id costs microseconds, not minutes), and releases the GIL while it
matches, so a long match on a reader thread does not hold up the event loop.

The syntax is RE2's (https://github.com/google/re2/wiki/Syntax), close to Python's and PCRE's
without the features that need backtracking: look-around (``(?=``, ``(?!``, ``(?<=``,
``(?<!``), backreferences (``\\1``, ``(?P=name)``), atomic groups and possessive quantifiers.
A pattern using one is refused with BadRequestData (400) whose detail names the parameter and
says why. Matching is a search (the pattern may match anywhere in the text, as Python's
``re.search``; anchor it with ``^`` and ``$``). Differences from Python a caller may notice:
``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII (use ``\\pL``, ``\\pN`` or ``\\p{Hangul}`` for
other scripts), ``$`` is only the end of the text (not before a final newline), and the end of
text is ``\\z`` (Python's ``\\Z``).

The NGSI-LD spec names no regular-expression dialect for idPattern (clause 5.2.8) or the q
pattern operators (clause 4.9); an invalid query or payload is BadRequestData (table 6.3.2-1).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from cityhub.errors import BadRequestData

#: The longest pattern accepted, in characters (longer ones are refused, not truncated).
MAX_LENGTH = 4096
#: Where the syntax is described, for error details.
SYNTAX_URL = "https://github.com/google/re2/wiki/Syntax"

_LINEAR = (
    "caller regular expressions run on RE2, in time linear in the text, which has no "
    "look-around and no backreferences"
)
#: RE2's messages (the start of them) and what they mean for the person who sent the pattern.
_REASONS = (
    ("invalid perl operator: (?=", "it uses look-ahead (?=...); " + _LINEAR),
    ("invalid perl operator: (?!", "it uses negative look-ahead (?!...); " + _LINEAR),
    ("invalid perl operator: (?<=", "it uses look-behind (?<=...); " + _LINEAR),
    ("invalid perl operator: (?<!", "it uses negative look-behind (?<!...); " + _LINEAR),
    ("invalid escape sequence: \\k", "it uses a named backreference \\k<...>; " + _LINEAR),
    ("invalid perl operator: (?>", "it uses an atomic group (?>...), which RE2 does not need"),
    ("invalid perl operator: (?#", "it has a (?#...) comment, which RE2 does not read"),
    ("invalid escape sequence: \\Z", "\\Z is not RE2 syntax: write \\z for the end of the text"),
    (
        "invalid escape sequence: \\u",
        "\\uXXXX is not RE2 syntax: write \\x{XXXX} for a character by its code point",
    ),
    ("bad repetition operator: ++", "possessive quantifiers (++, *+, ?+) are not RE2 syntax"),
    ("bad repetition operator: *+", "possessive quantifiers (++, *+, ?+) are not RE2 syntax"),
    ("bad repetition operator: ?+", "possessive quantifiers (++, *+, ?+) are not RE2 syntax"),
    ("invalid repetition size", "a repetition count is over 1000"),
    ("pattern too large", "it is too large to run (its compiled form is over RE2's budget)"),
)


class Pattern:
    """A caller's regular expression, checked and compiled (use :func:`compile_pattern`)."""

    __slots__ = ("_match", "_regexp", "pattern")

    def __init__(self, pattern: str, regexp: Any) -> None:
        self.pattern = pattern
        self._regexp = regexp
        # The binding's RE2 object answers a yes/no search in ~3 us where the re-like wrapper
        # around it (match objects, character offsets) takes ~9 us: an SQLite scan calls this
        # once per row. Taken when the binding has it (every google-re2 release since 2020).
        self._match = getattr(getattr(regexp, "_regexp", None), "Match", None)

    def search(self, text: object) -> bool:
        """Whether the pattern matches anywhere in ``text`` (False for anything but a str)."""
        if not isinstance(text, str):
            return False
        data = text.encode("utf-8", "surrogatepass")
        if self._match is None:
            return self._regexp.search(data) is not None
        return bool(self._match(_UNANCHORED, data, 0, len(data))[0][0] >= 0)

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


def compile_pattern(pattern: object, parameter: str) -> Pattern:
    """Check and compile a caller's pattern (cached by its text).

    Args:
        pattern: what the caller sent.
        parameter: the parameter or member it came in (``idPattern``, ``entities[0].idPattern``),
            named in the error detail.

    Returns:
        The compiled pattern.

    Raises:
        BadRequestData: not a string, too long, not RE2 syntax, or a feature RE2 cannot run in
            linear time; the detail names ``parameter`` and says why.
    """
    if not isinstance(pattern, str):
        raise BadRequestData(f"{parameter} must be a string (a regular expression)")
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        raise BadRequestData(
            f"{parameter}: invalid regular expression {_short(pattern)}: {compiled}"
        )
    return compiled


def problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used ("it uses look-ahead...", for an error detail), or None."""
    compiled = _compile(pattern)
    return compiled if isinstance(compiled, str) else None


def search(pattern: str, text: object) -> bool:
    """Whether a pattern (already checked when it came in) matches anywhere in ``text``.

    Never raises: a pattern that cannot be used matches nothing. For code that must not fail
    halfway, such as an SQLite function or a stored document read back.
    """
    compiled = _compile(pattern)
    return not isinstance(compiled, str) and compiled.search(text)


def escape(text: str) -> str:
    """``text`` as a pattern that matches exactly it."""
    return str(re2.escape(text))


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the reason goes into the error detail, not to stderr
    # a yes/no search needs no groups; without them RE2 can use its DFA (much faster)
    options.never_capture = True
    return options


_OPTIONS = _options()
_UNANCHORED = re2._Anchor.UNANCHORED if hasattr(re2, "_Anchor") else None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Pattern | str:
    """The compiled pattern, or why it cannot be used."""
    if len(pattern) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    try:
        return Pattern(pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        return _reason(pattern, exc)


def _reason(pattern: str, exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if message == "invalid perl operator: (?P" and "(?P=" in pattern:
        return "it uses a named backreference (?P=...); " + _LINEAR
    for start, reason in _REASONS:
        if message.startswith(start):
            return reason
    if message.startswith("invalid escape sequence: \\") and message[-1:].isdigit():
        return "it uses a backreference (\\1...\\9); " + _LINEAR
    return f"it is not a valid regular expression ({message}; syntax: {SYNTAX_URL})"


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


__all__ = ["MAX_LENGTH", "Pattern", "compile_pattern", "escape", "problem", "search"]
