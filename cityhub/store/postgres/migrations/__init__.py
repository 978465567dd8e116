"""Versioned PostgreSQL schema migrations: ``NNNN_name.sql``, applied in order by
``cityhub.store.postgres.migrate``."""
