"""Storage: every storage protocol (``base``, ``temporal``, ``subscriptions``, ``registrations``,
``outbox``, ``availability``) and the two backends behind them (``sqlite/``, ``postgres/``),
which ``open.open_backend`` picks by the store URL and wires into a ``backend.Backend``.

Owns: persistence, transactions, query compilation to SQL with bound parameters, schema
migrations, each backend's speed tricks. May import: ``cityhub.ngsild``, ``cityhub.errors``,
``cityhub.settings``. Never HTTP, JSON-LD contexts, or a service above it (services hand their
in-transaction work in as hooks). Only this package imports ``store.sqlite`` or
``store.postgres`` (``tests/test_layering.py``).
"""
