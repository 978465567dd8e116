"""Open a backend from its store URL: ``sqlite:///path/to.db``, ``sqlite:///:memory:`` or
``postgresql://user:password@host:port/database`` (``postgres://`` too). The only place that
picks a backend by its URL; everything above sees a :class:`~cityhub.store.backend.Backend`.

A store URL may carry a password: show it only through ``cityhub.settings.redact_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cityhub.settings import Settings, redact_url
from cityhub.store.backend import Backend
from cityhub.store.sqlite.backend import open_sqlite

if TYPE_CHECKING:
    from cityhub.store.migrations import Migration

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:///"


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def _unsupported(url: str) -> ValueError:
    return ValueError(
        f"unsupported store URL {redact_url(url)!r}; use sqlite:///PATH or postgresql://..."
    )


def _postgres_extra(exc: ImportError) -> ValueError:
    # asyncpg and greenlet are the "postgres" extra
    return ValueError(f"the PostgreSQL store needs {exc.name}: pip install 'cityhub[postgres]'")


def open_backend(url: str, settings: Settings) -> Backend:
    """The backend a store URL names, wired by ``settings`` (not started: ``await
    backend.start()``).

    Raises:
        ValueError: the URL's scheme is not supported, or the PostgreSQL driver is missing.
    """
    if url.startswith(SQLITE_SCHEME):
        return open_sqlite(url[len(SQLITE_SCHEME) :], settings)
    if is_postgres_url(url):
        try:
            from cityhub.store.postgres.backend import open_postgres
        except ImportError as exc:
            raise _postgres_extra(exc) from exc
        return open_postgres(url, settings)
    raise _unsupported(url)


async def migrate_store(url: str) -> tuple[list[Migration], int]:
    """Apply the pending schema migrations of a store (``cityhub migrate``; a store also does
    when it starts): what was applied and the schema version now.

    Raises:
        ValueError: the URL's scheme is not supported, or the PostgreSQL driver is missing.
        SchemaTooNew: a newer cityhub migrated the database; nothing is changed.
    """
    if url.startswith(SQLITE_SCHEME):
        from cityhub.store.sqlite.migrate import migrate_file

        return migrate_file(url[len(SQLITE_SCHEME) :])
    if not is_postgres_url(url):
        raise _unsupported(url)
    try:
        from cityhub.store.postgres.migrate import run_migrations
    except ImportError as exc:
        raise _postgres_extra(exc) from exc
    return await run_migrations(url)


__all__ = ["POSTGRES_SCHEMES", "SQLITE_SCHEME", "is_postgres_url", "migrate_store", "open_backend"]
