"""Open a store from its URL: ``sqlite:///path/to.db``, ``sqlite:///:memory:`` or
``postgresql://user:password@host:port/database`` (``postgres://`` too).

A store URL may carry a password: show it only through ``cityhub.settings.redact_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cityhub.settings import redact_url
from cityhub.store.sqlite.store import SqliteStore

if TYPE_CHECKING:
    from cityhub.store.postgres.store import PostgresStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def open_store(
    url: str, reader_threads: int = 4, sqlite_mmap_mb: int = 128
) -> SqliteStore | PostgresStore:
    """The store a URL names (not started: ``await store.start()``).

    Args:
        url: the store URL.
        reader_threads: SQLite reader threads; for PostgreSQL, the pool holds twice as many
            connections.
        sqlite_mmap_mb: MiB of the SQLite file each connection memory-maps (0: none).

    Raises:
        ValueError: the URL's scheme is not supported, or the PostgreSQL driver is missing.
    """
    if url.startswith("sqlite:///"):
        return SqliteStore(
            url[len("sqlite:///") :], reader_threads=reader_threads, mmap_mb=sqlite_mmap_mb
        )
    if is_postgres_url(url):
        try:
            from cityhub.store.postgres.store import PostgresStore
        except ImportError as exc:  # asyncpg and greenlet are the "postgres" extra
            raise ValueError(
                f"the PostgreSQL store needs {exc.name}: pip install 'cityhub[postgres]'"
            ) from exc
        return PostgresStore(url, pool_size=2 * reader_threads)
    raise ValueError(
        f"unsupported store URL {redact_url(url)!r}; use sqlite:///PATH or postgresql://..."
    )


__all__ = ["POSTGRES_SCHEMES", "is_postgres_url", "open_store"]
