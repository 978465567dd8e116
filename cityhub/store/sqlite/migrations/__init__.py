"""The SQLite store's schema as numbered migrations: ``NNNN_name.sql`` (statements run in order)
or ``NNNN_name.py`` (a module with ``apply(conn)``, for a step SQL alone cannot do, such as
filling a new derived index from the stored entities). ``cityhub.store.sqlite.migrate`` applies
the ones a database lacks, in version order, in one transaction, when the store opens.

0001-0007 are the schema of the last release without numbered migrations (d99cb2b); they say
``IF NOT EXISTS`` because a database written by that release runs them too, to add what it
lacks (``cityhub.store.sqlite.legacy``). A migration is never edited once released: a change of
schema is a new file."""
