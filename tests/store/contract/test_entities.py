"""Entities through the ``Store``/``Transaction`` protocols (cityhub/store/base.py), the same on
every backend: writes (insert, save, delete, savepoints), reads (get, query by ids, idPattern,
types, attrs, orderBy, count, paging: clause 5.7.2), tenants and the type index (5.7.5)."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import AlreadyExists, BadRequestData
from cityhub.store.base import Change, EntityQuery, OrderItem, Transaction
from tests.store.contract.conftest import Backend

EX = "https://ex.org/"
T = "city"


def entity(n: int, *types: str, **attrs: Any) -> dict[str, Any]:
    stamp = f"2024-01-{n:02d}T00:00:00.000000Z"
    return {
        "id": f"urn:ngsi-ld:E:{n}",
        "type": [EX + t for t in (types or ("Sensor",))],
        "createdAt": stamp,
        "modifiedAt": stamp,
        "attrs": {EX + k: [{"type": "Property", "value": v}] for k, v in attrs.items()},
    }


def insert(b: Backend, *entities: dict[str, Any], tenant: str = T) -> None:
    def fn(tx: Transaction) -> None:
        for e in entities:
            tx.insert(e)

    b.run(b.store.write(tenant, fn))


def ids(b: Backend, query: EntityQuery, tenant: str = T) -> list[str]:
    return [e["id"] for e in b.run(b.store.query_entities(tenant, query)).entities]


def nums(b: Backend, query: EntityQuery) -> list[int]:
    return [int(i.rsplit(":", 1)[1]) for i in ids(b, query)]


@pytest.fixture
def ten(backend: Backend) -> Backend:
    """Ten sensors and two vehicles with a level, a name and a (multi-)type."""
    insert(
        backend,
        *(entity(n, level=n % 5, name=f"s{n:02d}") for n in range(1, 11)),
        entity(11, "Vehicle", level=9),
        entity(12, "Vehicle", "Sensor", name="both"),
    )
    return backend


def test_insert_then_get_gives_the_entity_back(backend: Backend) -> None:
    e = entity(1, level=3.5, name="x")
    e["scope"] = ["/a/b"]
    e["attrs"][EX + "loc"] = [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.1, 37.4]}}
    ]
    insert(backend, e)
    assert backend.run(backend.store.get_entity(T, e["id"])) == e
    assert backend.run(backend.store.get_entity("elsewhere", e["id"])) is None
    assert backend.run(backend.store.write(T, lambda tx: tx.get(e["id"]))) == e


def test_insert_of_a_taken_id_is_refused_and_writes_nothing(backend: Backend) -> None:
    insert(backend, entity(1, level=1))
    with pytest.raises(AlreadyExists):
        insert(backend, entity(2, level=2), entity(1, level=7))
    assert backend.run(backend.store.get_entity(T, "urn:ngsi-ld:E:2")) is None  # rolled back
    assert (
        backend.run(backend.store.get_entity(T, "urn:ngsi-ld:E:1"))["attrs"][EX + "level"][0][
            "value"
        ]
        == 1
    )


def test_save_replaces_and_delete_removes(backend: Backend) -> None:
    insert(backend, entity(1, "Sensor", level=1))
    changed = entity(1, "Vehicle", level=2)
    changed["modifiedAt"] = "2024-02-01T00:00:00.000000Z"
    before = backend.run(backend.store.get_entity(T, changed["id"]))
    backend.run(backend.store.write(T, lambda tx: tx.save(changed, before)))
    assert backend.run(backend.store.get_entity(T, changed["id"])) == changed
    # the type index follows the saved types
    assert ids(backend, EntityQuery(types=(EX + "Sensor",))) == []
    assert ids(backend, EntityQuery(types=(EX + "Vehicle",))) == [changed["id"]]
    assert backend.run(backend.store.write(T, lambda tx: tx.delete(changed["id"]))) is True
    assert backend.run(backend.store.write(T, lambda tx: tx.delete(changed["id"]))) is False
    assert backend.run(backend.store.get_entity(T, changed["id"])) is None
    assert ids(backend, EntityQuery(types=(EX + "Vehicle",))) == []


def test_listeners_get_the_committed_changes_in_order(backend: Backend) -> None:
    seen: list[Change] = []
    backend.store.add_listener(seen.extend)
    insert(backend, entity(1, level=1))
    e = entity(1, level=2)
    backend.run(backend.store.write(T, lambda tx: tx.save(e, tx.get(e["id"]))))
    backend.run(backend.store.write(T, lambda tx: tx.delete(e["id"])))
    with pytest.raises(AlreadyExists):
        insert(backend, entity(2), entity(2))  # rolled back: no change reaches listeners
    backend.run(backend.store.get_entity(T, e["id"]))  # let pending callbacks run
    assert [(c.kind, c.tenant, c.entity_id) for c in seen] == [
        ("entityCreated", T, e["id"]),
        ("entityUpdated", T, e["id"]),
        ("entityDeleted", T, e["id"]),
    ]
    assert seen[1].before is not None and seen[1].after == e
    assert seen[2].after is None


def test_a_savepoint_rolls_back_only_its_own_writes(backend: Backend) -> None:
    def fn(tx: Transaction) -> None:
        tx.insert(entity(1))
        with pytest.raises(AlreadyExists), tx.savepoint():
            tx.insert(entity(2))
            tx.insert(entity(1))
        tx.insert(entity(3))

    backend.run(backend.store.write(T, fn))
    assert sorted(nums(backend, EntityQuery())) == [1, 3]


def test_query_by_ids_id_pattern_types_and_attrs(ten: Backend) -> None:
    b = ten
    assert sorted(nums(b, EntityQuery(ids=("urn:ngsi-ld:E:2", "urn:ngsi-ld:E:11", "urn:x")))) == [
        2,
        11,
    ]
    assert sorted(nums(b, EntityQuery(id_pattern=r"^urn:ngsi-ld:E:1\d$"))) == [10, 11, 12]
    assert sorted(nums(b, EntityQuery(id_pattern="E:1"))) == [1, 10, 11, 12]  # a search
    assert sorted(nums(b, EntityQuery(types=(EX + "Vehicle",)))) == [11, 12]
    assert sorted(nums(b, EntityQuery(types=(EX + "Vehicle", EX + "Nothing")))) == [11, 12]
    assert len(nums(b, EntityQuery(types=(EX + "Sensor",), limit=100))) == 11
    assert sorted(nums(b, EntityQuery(attrs=(EX + "name",), types=(EX + "Vehicle",)))) == [12]
    assert sorted(nums(b, EntityQuery(attrs=(EX + "level",), types=(EX + "Vehicle",)))) == [11]
    assert ids(b, EntityQuery(types=(EX + "Sensor",)), tenant="other") == []


def test_a_bad_id_pattern_is_refused(ten: Backend) -> None:
    """Clause 5.7.2: a query that is not valid raises BadRequestData (SQLite matched nothing)."""
    with pytest.raises(BadRequestData, match="idPattern"):
        ten.run(ten.store.query_entities(T, EntityQuery(id_pattern="(unclosed")))


def test_order_count_and_paging(ten: Backend) -> None:
    b = ten
    by_id = EntityQuery(order_by=(OrderItem("id"),), limit=100)
    every = nums(b, by_id)
    assert every == sorted(every, key=lambda n: f"urn:ngsi-ld:E:{n}")  # byte order of ids
    pages = [
        nums(b, EntityQuery(order_by=(OrderItem("id"),), limit=5, offset=o)) for o in (0, 5, 10)
    ]
    assert [n for page in pages for n in page] == every
    result = b.run(b.store.query_entities(T, EntityQuery(count=True, limit=3)))
    assert result.count == 12 and len(result.entities) == 3
    result = b.run(b.store.query_entities(T, EntityQuery(count=True, limit=0)))
    assert result.count == 12 and result.entities == []
    result = b.run(b.store.query_entities(T, EntityQuery(offset=50, count=True)))
    assert result.entities == [] and result.count == 12
    # by an attribute, descending, then by id; entities without it come last (clause 4.21)
    order = (OrderItem(EX + "level", descending=True), OrderItem("id"))
    got = nums(b, EntityQuery(types=(EX + "Sensor",), order_by=order, limit=100))
    levels = {n: n % 5 for n in range(1, 11)}
    expected = sorted(levels, key=lambda n: (-levels[n], f"urn:ngsi-ld:E:{n}")) + [12]
    assert got == expected
    created = nums(b, EntityQuery(order_by=(OrderItem("createdAt", descending=True),), limit=3))
    assert created == [12, 11, 10]


def test_tx_reads(ten: Backend) -> None:
    b = ten
    found = b.run(b.store.write(T, lambda tx: sorted(tx.ids_of_types([EX + "Vehicle"]))))
    assert found == ["urn:ngsi-ld:E:11", "urn:ngsi-ld:E:12"]
    query = EntityQuery(types=(EX + "Sensor",), limit=1)  # limit and offset ignored
    assert len(b.run(b.store.write(T, lambda tx: tx.query_ids(query)))) == 11


def test_tenants_and_the_type_index(ten: Backend) -> None:
    b = ten
    assert b.run(b.store.tenant_exists(T)) is True
    assert b.run(b.store.tenant_exists("never")) is False
    assert sorted(b.run(b.store.entity_types(T))) == [EX + "Sensor", EX + "Vehicle"]
    assert b.run(b.store.count_by_type(T, EX + "Vehicle")) == 2
    assert b.run(b.store.count_by_type(T, EX + "Nothing")) == 0
    rows = b.run(b.store.type_attribute_rows(T, EX + "Vehicle"))
    assert sorted(rows, key=repr) == sorted(
        [
            (EX + "Vehicle", EX + "level", "Property"),
            (EX + "Vehicle", EX + "name", "Property"),
        ],
        key=repr,
    )
    insert(b, {**entity(20), "attrs": {}})
    assert (EX + "Sensor", None, None) in b.run(b.store.type_attribute_rows(T, EX + "Sensor"))
