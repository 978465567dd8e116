"""Bound parameters for PostgreSQL statements built in pieces.

PostgreSQL numbers its placeholders (``$1``, ``$2``...), so the pieces of a statement share one
:class:`Params` that hands out the next number. Every placeholder carries an explicit cast, so a
statement never depends on how the server would guess a parameter's type.
"""

from __future__ import annotations

from typing import Any


class Params:
    """The values bound to one statement, in placeholder order."""

    def __init__(self, values: list[Any] | None = None) -> None:
        self.values: list[Any] = list(values or [])

    def add(self, value: Any, cast: str = "text") -> str:
        """Bind ``value``; returns its placeholder, e.g. ``$3::text``."""
        self.values.append(value)
        return f"${len(self.values)}::{cast}"

    def __len__(self) -> int:
        return len(self.values)


__all__ = ["Params"]
