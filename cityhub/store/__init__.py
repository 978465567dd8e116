"""Storage: the store protocol and its backends (SQLite now, PostgreSQL later).

Owns: persistence, transactions, query compilation to SQL with bound parameters.
May import: ``cityhub.ngsild``, ``cityhub.errors``. Never HTTP or JSON-LD contexts.
"""
