"""The SQLite backend: one writer thread, pooled readers, WAL."""
