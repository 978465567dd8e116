"""Temporal history through the ``TemporalStore`` protocol (cityhub/store/temporal.py), the same
on every backend: one instance recorded per change of the entity store (clause 5.6.11's
history as the entity API makes it), temporal queries with timerel and lastN (clause 4.11,
5.7.3, 5.7.4), instance edits (5.6.12-5.6.16), aggregation (4.5.19) and retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhub.errors import ResourceNotFound
from cityhub.ngsild.aggregation import AggregationQuery, method_value
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.duration import parse_duration
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.retention import RetentionPolicy
from tests.store.contract.conftest import Backend

EX = "https://ex.org/"
T = "hist"
SID = "urn:ngsi-ld:Sensor:1"
TEMP = EX + "temperature"


def _prop(value: Any, at: str) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at}


def _sensor(value: Any, at: str, sid: str = SID) -> dict[str, Any]:
    return {
        "id": sid,
        "type": [EX + "Sensor"],
        "createdAt": "2024-01-01T00:00:00.000000Z",
        "modifiedAt": at,
        "attrs": {TEMP: [_prop(value, at)]},
    }


READINGS = [  # (value, observedAt)
    (10, "2024-01-01T00:10:00.000000Z"),
    (20, "2024-01-01T00:20:00.000000Z"),
    (30, "2024-01-01T00:50:00.000000Z"),
    (5, "2024-01-01T02:15:00.000000Z"),
    (7, "2024-01-01T02:45:00.000000Z"),
]


def _values(b: Backend, tq: TemporalQuery, sid: str = SID) -> list[Any]:
    found = b.run(b.temporal.get_entity(T, sid, tq))
    assert found is not None
    return [i["value"] for i in found[1].get(TEMP, [])]


@pytest.fixture
def recorded(backend: Backend) -> Backend:
    """Five changes of one sensor through the entity store: the history hook records each."""
    value, at = READINGS[0]
    backend.run(backend.store.write(T, lambda tx: tx.insert(_sensor(value, at))))
    for value, at in READINGS[1:]:
        changed = _sensor(value, at)

        def save(tx: Transaction, changed: dict[str, Any] = changed) -> None:
            tx.save(changed, tx.get(SID))

        backend.run(backend.store.write(T, save))
    return backend


def test_every_change_is_recorded_once(recorded: Backend) -> None:
    assert _values(recorded, TemporalQuery()) == [v for v, _ in READINGS]
    head, history, with_history = recorded.run(
        recorded.temporal.get_entity(T, SID, TemporalQuery())
    )
    assert head["id"] == SID and head["type"] == [EX + "Sensor"]
    assert with_history == set()  # which of the attrs asked for have a history: none asked
    asked = recorded.run(
        recorded.temporal.get_entity(T, SID, TemporalQuery(), attrs=[TEMP, EX + "nothing"])
    )
    assert asked is not None and asked[2] == {TEMP}
    assert [i["observedAt"] for i in history[TEMP]] == [at for _, at in READINGS]
    assert len({i["instanceId"] for i in history[TEMP]}) == len(READINGS)


@pytest.mark.parametrize(
    ("tq", "expected"),
    [
        (TemporalQuery("before", "2024-01-01T00:50:00.000000Z"), [10, 20]),
        (TemporalQuery("after", "2024-01-01T00:50:00.000000Z"), [5, 7]),
        (
            TemporalQuery("between", "2024-01-01T00:20:00.000000Z", "2024-01-01T02:15:00.000000Z"),
            [20, 30],
        ),
        (TemporalQuery(last_n=2), [5, 7]),
        (TemporalQuery("before", "2024-01-01T02:00:00.000000Z", last_n=1), [30]),
        (TemporalQuery("after", "2030-01-01T00:00:00.000000Z"), []),
    ],
    ids=["before", "after", "between", "lastN", "before+lastN", "none"],
)
def test_temporal_queries(recorded: Backend, tq: TemporalQuery, expected: list[int]) -> None:
    assert _values(recorded, tq) == expected


def test_query_entities_with_history(recorded: Backend) -> None:
    b = recorded
    b.run(b.temporal.create_or_update(T, _sensor(99, "2024-01-01T00:30:00.000000Z", "urn:x:2")))
    query = EntityQuery(types=(EX + "Sensor",), count=True, limit=10)
    tq = TemporalQuery("before", "2024-01-01T00:40:00.000000Z")
    found, count = b.run(b.temporal.query_entities(T, query, tq))
    assert count == 2
    got = {head["id"]: [i["value"] for i in hist.get(TEMP, [])] for head, hist in found}
    assert got == {SID: [10, 20], "urn:x:2": [99]}


def test_instance_edits_and_deletion(recorded: Backend) -> None:
    b = recorded
    found = b.run(b.temporal.get_entity(T, SID, TemporalQuery()))
    assert found is not None
    first = found[1][TEMP][0]["instanceId"]
    b.run(b.temporal.modify_instance(T, SID, TEMP, first, _prop(11, READINGS[0][1])))
    assert _values(b, TemporalQuery()) == [11, 20, 30, 5, 7]
    b.run(b.temporal.delete_instance(T, SID, TEMP, first))
    assert _values(b, TemporalQuery()) == [20, 30, 5, 7]
    with pytest.raises(ResourceNotFound):
        b.run(b.temporal.delete_instance(T, SID, TEMP, first))
    b.run(b.temporal.append_attributes(T, SID, {TEMP: [_prop(8, "2024-01-01T03:00:00Z")]}))
    assert _values(b, TemporalQuery(last_n=1)) == [8]
    b.run(b.temporal.delete_entity(T, SID))
    assert b.run(b.temporal.get_entity(T, SID, TemporalQuery())) is None
    with pytest.raises(ResourceNotFound):
        b.run(b.temporal.delete_entity(T, SID))


def test_aggregation_by_hour(recorded: Backend) -> None:
    b = recorded
    methods = ("totalCount", "sum", "avg", "min", "max")
    agg = AggregationQuery(methods, parse_duration("PT1H"))
    found = b.run(b.temporal.aggregate_entity(T, SID, TemporalQuery(), agg))
    assert found is not None
    (series,) = found[1][TEMP]
    assert series.origin == READINGS[0][1]  # the first instance
    # [00:10, 01:10) = 10, 20, 30; [01:10, 02:10) empty; [02:10, 03:10) = 5, 7
    assert [p.index for p in series.periods] == [0, 2]
    table = {m: [method_value(m, p) for p in series.periods] for m in methods}
    assert table == {
        "totalCount": [3, 2],
        "sum": [60, 12],
        "avg": [20, 6],
        "min": [10, 5],
        "max": [30, 7],
    }
    whole = AggregationQuery(("avg", "max"), None)
    (series,) = b.run(b.temporal.aggregate_entity(T, SID, TemporalQuery(), whole))[1][TEMP]
    assert [method_value("avg", p) for p in series.periods] == [72 / 5]
    found_all, _ = b.run(
        b.temporal.aggregate_entities(T, EntityQuery(types=(EX + "Sensor",)), TemporalQuery(), agg)
    )
    assert [head["id"] for head, _ in found_all] == [SID]


@pytest.fixture
def kept_30_days(store_url: str) -> Iterator[Backend]:
    b = Backend(store_url, retention=RetentionPolicy(30, {"forever": 0}))
    # the background pruner prunes against the clock at start-up; these tests prune against
    # a fixed "now", so the pruner stops first (it raced them: 2024's rows are old by the clock)
    b.run(b.temporal.stop())
    try:
        yield b
    finally:
        b.close()


def test_retention_prunes_what_is_older_than_the_policy(kept_30_days: Backend) -> None:
    """Instances older than the tenant's days go, the others stay. The backend also prunes once
    when it starts, in the background, so the times are real ones and the test looks at what
    is left, not at who pruned it."""
    b = kept_30_days
    now = datetime.now(UTC)
    old, recent = format_datetime(now - timedelta(days=60)), format_datetime(now - timedelta(1))
    for tenant in (T, "forever"):
        b.run(b.temporal.create_or_update(tenant, _sensor(1, old)))
        b.run(b.temporal.append_attributes(tenant, SID, {TEMP: [_prop(2, recent)]}))
    b.run(b.temporal.prune())
    assert _values(b, TemporalQuery()) == [2]
    found = b.run(b.temporal.get_entity("forever", SID, TemporalQuery()))
    assert found is not None and [i["value"] for i in found[1][TEMP]] == [1, 2]
    assert b.run(b.temporal.prune()) == 0
    # at an explicit time 40 days from now, the recent instance is old enough to go too
    assert b.run(b.temporal.prune(format_datetime(now + timedelta(days=40)))) == 1
    assert _values(b, TemporalQuery()) == []
