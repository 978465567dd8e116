"""Open a store from its URL: ``sqlite:///path/to.db``, ``sqlite:///:memory:``."""

from __future__ import annotations

from cityhub.store.sqlite.store import SqliteStore


def open_store(url: str, reader_threads: int = 4) -> SqliteStore:
    """The store a URL names (not started: ``await store.start()``).

    Raises:
        ValueError: the URL's scheme is not supported (yet).
    """
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :], reader_threads=reader_threads)
    if url.startswith(("postgresql://", "postgres://")):
        raise ValueError("the PostgreSQL store is not available yet; use sqlite:///PATH")
    raise ValueError(f"unsupported store URL {url!r}; use sqlite:///PATH")
