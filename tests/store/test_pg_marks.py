"""The subscription and registration rows are written once with ``?`` marks
(``cityhub.store.database.SqlConnection``); PostgreSQL's connection numbers them."""

from __future__ import annotations

import pytest

from cityhub.store.postgres.rows import numbered


@pytest.mark.parametrize(
    ("marked", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT doc FROM t WHERE tenant = ?", "SELECT doc FROM t WHERE tenant = $1"),
        (
            "a IN (?, ?, ?) AND b > ? LIMIT ? OFFSET ?",
            "a IN ($1, $2, $3) AND b > $4 LIMIT $5 OFFSET $6",
        ),
        ("?", "$1"),
    ],
)
def test_question_marks_are_numbered_for_postgresql(marked: str, expected: str) -> None:
    assert numbered(marked) == expected
