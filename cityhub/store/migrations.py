"""Numbered schema migrations, what both backends share: finding a backend's migrations and
refusing a database that a newer cityhub migrated.

A backend keeps its migrations in a package of files ``NNNN_name.sql`` (statements) or
``NNNN_name.py`` (a module with ``apply(conn)``, for a step SQL alone cannot do); ``NNNN`` is
the version. Each backend applies the ones a database has not recorded in its
``cityhub_migrations`` table, in version order, in one transaction
(``cityhub.store.sqlite.migrate``, ``cityhub.store.postgres.migrate``). A migration is never
edited once released: a change of schema is a new file.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cityhub.errors import InternalError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sql|py)$")


class SchemaTooNew(InternalError):
    """The database records a schema version this cityhub does not know (a newer cityhub
    migrated it); nothing was changed. Raised when a store starts, never for a request."""


@dataclass(frozen=True)
class Migration:
    """One numbered step: ``sql`` (the text of ``NNNN_name.sql``) or ``apply`` (the function
    of ``NNNN_name.py``, called with the backend's connection inside the transaction)."""

    version: int
    name: str
    sql: str | None = None
    apply: Callable[[Any], None] | None = None


@functools.cache
def find_migrations(package: str) -> tuple[Migration, ...]:
    """Every migration in ``package``, in version order.

    Raises:
        RuntimeError: two files share a version.
    """
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        version, name = int(match.group(1)), match.group(2)
        if match.group(3) == "sql":
            found.append(Migration(version, name, sql=entry.read_text(encoding="utf-8")))
        else:
            module = importlib.import_module(f"{package}.{entry.name[:-3]}")
            found.append(Migration(version, name, apply=module.apply))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations in {package} share a version: {versions}")
    return tuple(found)


def refuse_unknown(done: Iterable[int], known: Iterable[Migration], where: str) -> None:
    """Raise :class:`SchemaTooNew` when ``done`` (the versions a database records) holds one
    that ``known`` (this cityhub's migrations) does not.

    Args:
        done: the versions the database records.
        known: this cityhub's migrations.
        where: the database, as the operator knows it (a file name; no password).
    """
    versions = {m.version for m in known}
    unknown = set(done) - versions
    if unknown:
        raise SchemaTooNew(
            f"{where} has schema version {max(unknown)}, newer than this cityhub knows "
            f"({max(versions, default=0)}): it was written by a newer cityhub, so open it with "
            "that one (nothing was changed)"
        )


__all__ = ["Migration", "SchemaTooNew", "find_migrations", "refuse_unknown"]
