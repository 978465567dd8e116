"""Callers' regular expressions on PostgreSQL (cityhub/store/postgres/regex.py): RE2 syntax
rewritten for PostgreSQL's ``~`` matches what RE2 matches; what has no counterpart is refused;
reads that carry a pattern stop at the store's statement timeout (issue 22 item 1)."""

from __future__ import annotations

import asyncio

import pytest

from cityhub.errors import TooComplexQuery
from cityhub.ngsild import regex
from cityhub.store.postgres.regex import to_postgres

# (RE2 pattern, texts): the answer of PostgreSQL on the rewritten pattern must be RE2's
PARITY = [
    (r"\bfoo\b", ["a foo b", "afoob", "foo"]),
    (r"\Bfoo", ["afoo", "a foo"]),
    (r"abc\z", ["xabc", "abc\n"]),
    (r"\Aabc", ["abcx", "xabc"]),
    (r"^\d+$", ["123", "١٢٣", "12a"]),
    (r"^\w+$", ["성남", "a_b9", "a-b"]),
    (r"\s", ["a b", "a\u00a0b", "ab"]),
    (r"^\D+$", ["abc", "a1"]),
    (r"^\W+$", ["!!", "성남", "a"]),
    (r"^\S+$", ["ab", "a b"]),
    (r"a.b", ["a\nb", "axb"]),
    (r"(?s)a.b", ["a\nb", "ab"]),
    (r"(?i)ABC", ["xabcx", "ABD"]),
    (r"(?m)^b$", ["a\nb\nc", "ab"]),
    (r"(?im)^B.$", ["a\nbx\nc", "a\nb\n\nc"]),
    (r"(?U)a+b", ["aab", "b"]),
    (r"\x{C131}", ["성", "x"]),
    (r"\x41", ["A", "a"]),
    (r"^[\x{AC00}-\x{D7A3}]+$", ["성남", "abc"]),
    (r"\Qa.b\E", ["a.b", "axb"]),
    (r"\Q(x)", ["(x)", "x"]),
    (r"(?P<n>ab)+c", ["ababc", "ac"]),
    (r"(?<n>a)b", ["ab", "b"]),
    (r"[\d\s]+x", ["1 2x", "ax"]),
    (r"[^\w]", ["성", "a", "!"]),
    (r"[]a]", ["]", "b"]),
    (r"[^]a]", ["]", "b"]),
    (r"[a-c.]", [".", "x"]),
    (r"[-a]", ["-", "b"]),
    (r"^(a+)+$", ["aaaa", "aaab"]),
    (r"^(.+)+X$", ["aaaX", "a" * 5000]),
    (r"a*?b", ["aab", "a"]),
    (r"\.\$\\\n\+", [".$\\\n+", "x"]),
    (r"^urn:ngsi-ld:AirQualityObserved:", ["urn:ngsi-ld:AirQualityObserved:x", "urn:x"]),
]


def test_rewrites() -> None:
    assert to_postgres(r"\bx\B\z") == r"\yx\Y\Z"
    assert to_postgres(r"\d\W") == "[0-9][^0-9A-Za-z_]"
    assert to_postgres(r"[\d\s]") == r"[0-9\t\n\f\r ]"
    assert to_postgres("a.b") == r"a[^\n]b"
    assert to_postgres("(?s)a.b") == "a.b"
    assert to_postgres("(?im)^a") == "(?iw)^a"
    assert to_postgres(r"\x{AC00}\x41") == r"\U0000AC00\U00000041"
    assert to_postgres(r"\Qa.b\E") == r"a\.b"
    assert to_postgres("(?P<x>a)(?<y>b)(?:c)") == "(a)(b)(?:c)"
    assert to_postgres(r"[.]\.") == r"[.]\."


def test_same_matches_as_re2(postgres_url: str) -> None:
    import asyncpg

    async def main() -> list[str]:
        conn = await asyncpg.connect(postgres_url)
        wrong: list[str] = []
        try:
            for pattern, texts in PARITY:
                assert regex.problem(pattern) is None, pattern
                for text in texts:
                    got = await conn.fetchval("SELECT $1::text ~ $2", text, to_postgres(pattern))
                    if got != regex.search(pattern, text):
                        wrong.append(f"{pattern!r} on {text!r}: PostgreSQL says {got}")
        finally:
            await conn.close()
        return wrong

    assert asyncio.run(main()) == []


def test_a_slow_read_stops_at_the_timeout(postgres_url: str) -> None:
    """The bound itself (PostgreSQL's engine was not found slow on any pattern RE2 accepts, so
    the statement here is a sleep): TooComplexQuery, and the connection is usable again."""
    from cityhub.store.postgres.store import PostgresStore

    async def main() -> None:
        store = PostgresStore(postgres_url)
        await store.start()
        store.regex_timeout_ms = 100
        try:

            async def slow(conn: object) -> object:
                return await conn.fetchval("SELECT pg_sleep(5)")  # type: ignore[attr-defined]

            with pytest.raises(TooComplexQuery, match="did not finish within 0.1 s"):
                await store.acquire(slow, bounded=True)
            assert await store.fetch("SELECT 1") == [(1,)]
            assert await store.acquire(lambda conn: conn.fetchval("SELECT 2"), bounded=True) == 2
        finally:
            await store.close()

    asyncio.run(main())
