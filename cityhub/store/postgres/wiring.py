"""The PostgreSQL parts of the hub's services, as ``cityhub.app`` wires them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityhub.notify.matcher import TermMaps
from cityhub.store.postgres.outbox import PostgresOutbox
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.subscriptions import PostgresSubscriptionStore
from cityhub.store.postgres.unsupported import NotOnPostgres


@dataclass(frozen=True)
class PostgresComponents:
    subscriptions: PostgresSubscriptionStore
    outbox: PostgresOutbox
    temporal: Any
    registrations: Any


def install(store: object, term_maps: TermMaps) -> PostgresComponents:
    """Give ``store`` its notification outbox hook and build the stores the services use.

    Call before ``store.start()``. Temporal history and context source registrations are not
    on PostgreSQL yet: their routes answer 422 OperationNotSupported.

    Raises:
        ValueError: ``store`` is not a :class:`PostgresStore`.
    """
    if not isinstance(store, PostgresStore):
        raise ValueError(f"not a store cityhub knows how to wire: {type(store).__name__}")
    outbox = PostgresOutbox(store, term_maps)
    store.tx_hooks.append(outbox.hook)
    return PostgresComponents(
        subscriptions=PostgresSubscriptionStore(store),
        outbox=outbox,
        temporal=NotOnPostgres("the temporal API (entity history)"),
        registrations=NotOnPostgres("context source registration"),
    )


__all__ = ["PostgresComponents", "install"]
