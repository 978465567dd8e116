"""Which changes trigger which subscriptions (clause 5.8.6)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cityhub.ngsild.context import build_term_map
from cityhub.notify.matcher import TermMaps, fired_triggers, prepare, triggered
from cityhub.store.base import Change, Transaction
from cityhub.store.sqlite.store import SqliteStore
from tests.notify._support import AQO, D, ent, sub

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def run_change(
    tmp_path: Path, doc: dict[str, Any], write: Any, terms: TermMaps | None = None
) -> list[bool]:
    """Apply ``write(tx)`` on a fresh store (after an optional set-up) and record whether each
    change triggers ``doc``, evaluated inside the transaction like the outbox hook does."""
    prepared = prepare("", doc, terms or TermMaps())
    seen: list[bool] = []

    def hook(tx: Transaction, change: Change) -> None:
        seen.append(triggered(tx, prepared, change, NOW))

    async def main() -> None:
        store = SqliteStore(str(tmp_path / f"{uuid.uuid4().hex}.db"))
        await store.start()
        try:
            for setup in write[:-1]:
                await store.write("", setup)
            store.tx_hooks.append(hook)
            await store.write("", write[-1])
        finally:
            await store.close()

    asyncio.run(main())
    return seen


def insert(entity: dict[str, Any]) -> Any:
    return lambda tx: tx.insert(entity)


def save(entity: dict[str, Any]) -> Any:
    def fn(tx: Transaction) -> None:
        tx.save(entity, tx.get(entity["id"]))

    return fn


def test_created_entity_with_default_triggers(tmp_path: Path) -> None:
    assert run_change(tmp_path, sub(), [insert(ent())]) == [True]


def test_type_selector_and_id_pattern(tmp_path: Path) -> None:
    doc = sub(entities=[{"type": D + "Other"}])
    assert run_change(tmp_path, doc, [insert(ent())]) == [False]
    doc = sub(entities=[{"type": AQO, "idPattern": "^urn:ngsi-ld:AirQualityObserved:9"}])
    assert run_change(tmp_path, doc, [insert(ent())]) == [False]
    doc = sub(entities=[{"type": AQO, "id": "urn:ngsi-ld:AirQualityObserved:1"}])
    assert run_change(tmp_path, doc, [insert(ent())]) == [True]


def test_type_query_selector(tmp_path: Path) -> None:
    doc = sub(entities=[{"type": f"{D}Other|{AQO}"}])
    assert run_change(tmp_path, doc, [insert(ent())]) == [True]


def test_q_is_evaluated_in_sql_on_the_written_row(tmp_path: Path) -> None:
    assert run_change(tmp_path, sub(q="pm25>20"), [insert(ent(pm25=18))]) == [False]
    assert run_change(tmp_path, sub(q="pm25>20"), [insert(ent(pm25=25))]) == [True]


def test_q_uses_the_subscription_context(tmp_path: Path) -> None:
    ctx = {"fine": D + "pm25"}
    terms = TermMaps()
    terms.put(ctx, build_term_map(ctx, {}))
    doc = sub(q="fine>20")
    doc["@context"] = ctx
    assert run_change(tmp_path, doc, [insert(ent(pm25=25))], terms) == [True]


def test_scope_q(tmp_path: Path) -> None:
    e = ent()
    e["scope"] = ["/Seongnam/Bundang"]
    assert run_change(tmp_path, sub(scopeQ="/Seongnam/#"), [insert(e)]) == [True]
    assert run_change(tmp_path, sub(scopeQ="/Seoul/#"), [insert(e)]) == [False]


def test_geo_q(tmp_path: Path) -> None:
    near = {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [127.1, 37.4]}
    assert run_change(tmp_path, sub(geoQ=near), [insert(ent())]) == [True]
    far = dict(near, coordinates=[129.0, 35.1])
    assert run_change(tmp_path, sub(geoQ=far), [insert(ent())]) == [False]


def test_watched_attributes_and_update_triggers(tmp_path: Path) -> None:
    doc = sub(watchedAttributes=[D + "no2"])
    assert run_change(tmp_path, doc, [insert(ent()), save(ent(pm25=30))]) == [False]
    doc = sub(watchedAttributes=[D + "pm25"])
    assert run_change(tmp_path, doc, [insert(ent()), save(ent(pm25=30))]) == [True]


def test_paused_and_expired_never_match(tmp_path: Path) -> None:
    assert run_change(tmp_path, sub(isActive=False), [insert(ent())]) == [False]
    expired = sub(expiresAt="2026-01-01T00:00:00Z")
    assert run_change(tmp_path, expired, [insert(ent())]) == [False]


def test_entity_deleted_trigger(tmp_path: Path) -> None:
    doc = sub(notificationTrigger=["entityDeleted"], q="pm25>100")
    result = run_change(tmp_path, doc, [insert(ent()), lambda tx: tx.delete(ent()["id"])])
    assert result == [True]  # q cannot be read on a deleted row


def test_fired_triggers() -> None:
    p = prepare("", sub(), TermMaps())
    before, after = ent(), ent(pm25=19)
    del after["attrs"][D + "pm25"]
    after["attrs"][D + "no2"] = [{"type": "Property", "value": 1}]
    fired = fired_triggers(p, Change("entityUpdated", "", "x", before, after))
    assert fired == {"attributeCreated", "attributeDeleted", "entityUpdated"}
    same = fired_triggers(p, Change("entityUpdated", "", "x", ent(), ent()))
    assert same == set()
    created = fired_triggers(p, Change("entityCreated", "", "x", None, ent()))
    assert created == {"entityCreated", "attributeCreated"}


def test_periodic_subscriptions_are_not_change_driven(tmp_path: Path) -> None:
    assert run_change(tmp_path, sub(timeInterval=60), [insert(ent())]) == [False]
