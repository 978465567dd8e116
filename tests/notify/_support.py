"""Helpers for the notification tests: internal entities, subscriptions, a store with an outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from cityhub.notify.matcher import TermMaps
from cityhub.notify.trigger import NotificationTrigger
from cityhub.settings import Settings
from cityhub.store.open import open_backend
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.subscriptions import SubscriptionStore

D = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
AQO = D + "AirQualityObserved"
T0 = "2026-11-01T09:00:00.000000Z"


def ent(
    eid: str = "urn:ngsi-ld:AirQualityObserved:1",
    pm25: Any = 18,
    lonlat: tuple[float, float] = (127.1, 37.4),
    types: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        D + "pm25": [{"type": "Property", "value": pm25}],
        LOCATION: [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": list(lonlat)}}
        ],
    }
    attrs.update(extra)
    return {
        "id": eid,
        "type": types or [AQO],
        "createdAt": T0,
        "modifiedAt": T0,
        "attrs": attrs,
    }


def sub(sid: str = "urn:ngsi-ld:Subscription:1", **members: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": sid,
        "type": "Subscription",
        "entities": [{"type": AQO}],
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
        "notification": {"endpoint": {"uri": "http://rx.test/notify"}},
        "@context": None,
    }
    doc.update(members)
    return {k: v for k, v in doc.items() if v is not ...}


def new_store(path: Path) -> tuple[SqliteStore, NotificationTrigger, SubscriptionStore]:
    """The SQLite backend as the app wires it (no history), with a notification trigger."""
    backend = open_backend(f"sqlite:///{path / 'hub.db'}", Settings(history=False))
    box = NotificationTrigger(TermMaps())
    backend.add_tx_hook(box.hook)
    return cast(SqliteStore, backend.store), box, backend.subscriptions
