"""Callers' regular expressions (cityhub/ngsild/regex.py): RE2, linear in the text, refused with a
detail that names the parameter and says why (issue 22 item 1).

The spec names no dialect (idPattern: clause 5.2.8; the q pattern operators: clause 4.9); an
invalid query or payload is BadRequestData (clause 6.3.2, table 6.3.2-1)."""

from __future__ import annotations

import threading

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex

# Patterns that take exponential time in a backtracking engine (Python's re) on a text that
# almost matches; with re each of these runs for minutes to years on the texts below.
CATASTROPHIC = [
    ("^(.+)+X$", "urn:ngsi-ld:AirQualityObserved:seongnam:" + "a" * 60),
    ("^(a+)+$", "a" * 60 + "!"),
    ("^(a|a)*$", "a" * 60 + "!"),
    ("^(a|aa)+$", "a" * 80 + "!"),
    ("(x+x+)+y", "x" * 80),
    ("^(\\w+\\s?)*$", "word " * 30 + "!"),
]


def _within(seconds: float, fn: object) -> object:
    """``fn()`` run on a thread; fails if it has not answered after ``seconds`` (a bound on a
    hang, not a timing: RE2 answers these in microseconds, a backtracking engine never)."""
    out: list[object] = []
    worker = threading.Thread(target=lambda: out.append(fn()), daemon=True)  # type: ignore[operator]
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"no answer within {seconds} s"
    return out[0]


@pytest.mark.parametrize(("pattern", "text"), CATASTROPHIC)
def test_catastrophic_patterns_answer(pattern: str, text: str) -> None:
    assert regex.problem(pattern) is None
    compiled = regex.compile_pattern(pattern, "idPattern")
    assert _within(10, lambda: compiled.search(text * 100)) is False
    assert _within(10, lambda: regex.search(pattern, text)) is False


def test_search_semantics() -> None:
    """A search, as Python's re.search: anywhere in the text unless anchored."""
    assert regex.search("Observed", "urn:ngsi-ld:AirQualityObserved:1")
    assert not regex.search("^Observed", "urn:ngsi-ld:AirQualityObserved:1")
    assert regex.search(":1$", "urn:ngsi-ld:AirQualityObserved:1")
    assert regex.search("(?i)airquality", "urn:ngsi-ld:AirQualityObserved:1")
    assert not regex.search("airquality", "urn:ngsi-ld:AirQualityObserved:1")
    assert regex.search("^urn:ngsi-ld:T2:성남시-", "urn:ngsi-ld:T2:성남시-정자동-🚗")
    assert regex.search("^\\p{Hangul}+$", "정자동")
    assert regex.search("\\x{C131}", "성")
    assert regex.search("b\\z", "ab") and not regex.search("b\\z", "ab\n")
    assert not regex.search("a.b", "a\nb") and regex.search("(?s)a.b", "a\nb")
    assert regex.search("(?P<name>ab)+", "abab") and regex.search("(?<name>ab)", "ab")
    # \d and \w are ASCII in RE2 (\pN, \pL for other scripts)
    assert not regex.search("^\\w+$", "정자동") and not regex.search("\\d", "٣")


def test_both_ways_of_searching_agree() -> None:
    """The binding's Match (the fast path) and its re-like wrapper (the fallback)."""
    texts = ["", "urn:ngsi-ld:T:1", "성남시-정자동-🚗", "a\nb", "lone \ud800 surrogate", "x" * 5000]
    for pattern in (
        "^urn:",
        "정자동",
        "🚗$",
        "(?s)a.b",
        "^$",
        "surrogate\\z",
        "^(.+)+X$",
        "x{1000}",
    ):
        fast = regex.compile_pattern(pattern, "q")
        slow = regex.Pattern(pattern, fast._regexp)
        slow._match = None
        assert fast._match is not None
        for text in texts:
            assert fast.search(text) == slow.search(text), (pattern, text)
    assert regex.search("정자동", "성남시-정자동-🚗") and regex.search("^$", "")


def test_search_never_raises() -> None:
    """For SQLite functions and stored documents: an unusable pattern matches nothing."""
    assert regex.search("(", "(") is False
    assert regex.search("(?=a)a", "a") is False
    assert regex.search("a", None) is False
    assert regex.search("a", 1) is False
    assert regex.compile_pattern("a", "q").search(b"a") is False


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("urn:(?=x)", "look-ahead (?=...); caller regular expressions run on RE2"),
        ("urn:(?!x)", "negative look-ahead"),
        ("(?<=urn:)x", "look-behind"),
        ("(?<!urn:)x", "negative look-behind"),
        ("(a)\\1", "backreference (\\1...\\9)"),
        ("(?P<n>a)(?P=n)", "named backreference (?P=...)"),
        ("(?<n>a)\\k<n>", "named backreference \\k<...>"),
        ("(?>a+)b", "atomic group"),
        ("a++", "possessive quantifiers"),
        ("x\\Z", "write \\z for the end of the text"),
        ("\\u00e9", "write \\x{XXXX}"),
        ("a{1001}", "repetition count is over 1000"),
        ("\\pL{1000}\\pN{1000}", "too large to run"),
        ("(", "not a valid regular expression (missing ): (; syntax: https://github.com/google"),
        ("[z-a]", "invalid character class range"),
        ("a" * (regex.MAX_LENGTH + 1), f"longer than {regex.MAX_LENGTH} characters"),
    ],
)
def test_refused_with_the_parameter_and_why(pattern: str, reason: str) -> None:
    with pytest.raises(BadRequestData) as info:
        regex.compile_pattern(pattern, "entities[2].idPattern")
    detail = info.value.detail
    assert detail.startswith("entities[2].idPattern: invalid regular expression '")
    assert reason in detail
    assert regex.problem(pattern) is not None and reason in str(regex.problem(pattern))


def test_not_a_string() -> None:
    with pytest.raises(BadRequestData, match="idPattern must be a string"):
        regex.compile_pattern(42, "idPattern")


def test_compiled_once() -> None:
    assert regex.compile_pattern("^urn:x", "a") is regex.compile_pattern("^urn:x", "b")
    assert regex.compile_pattern("^urn:x", "a").pattern == "^urn:x"


def test_escape() -> None:
    for text in ("/Madrid/Gardens", "a.b*c", "성남시 (정자동)", "[x]{1}", "\\"):
        assert regex.search("^" + regex.escape(text) + "\\z", text)
        assert not regex.search("^" + regex.escape(text) + "\\z", text + "x")


def test_python_re_never_runs_a_callers_pattern() -> None:
    """A standing guard: outside cityhub/ngsild/regex.py no code hands Python's backtracking
    ``re`` a pattern that is not a literal, and only that module imports re2."""
    import ast
    from pathlib import Path

    package = Path(regex.__file__).parents[1]
    offenders: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and path.name != "regex.py":
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                module = node.module if isinstance(node, ast.ImportFrom) else None
                if "re2" in names or module == "re2":
                    offenders.append(f"{path.relative_to(package)} imports re2")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.args
                and not isinstance(node.args[0], ast.Constant)
            ):
                offenders.append(f"{path.relative_to(package)}:{node.lineno} re.{node.func.attr}")
    assert offenders == []
