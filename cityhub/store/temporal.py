"""Temporal provision and consumption (ETSI GS CIM 009 v1.9.1 clauses 5.6.11-5.6.16,
5.7.3-5.7.4, 4.5.19), once for every backend: :class:`TemporalStore` owns the rules (what a
temporal write changes, what a query answers, how aggregated rows become series), over the
rows of ``cityhub.store.temporal_sql.TemporalRows`` (the SQL, written once over a dialect).
Also the result types and the retention policy.

Each backend subclasses both in ``store/<backend>/temporal.py``: how its rows run (a read, a
transaction, a store write's :class:`~cityhub.store.base.Transaction`), its dialect and the few
statements it writes its own way; ``retention.py`` prunes. History is recorded on every entity
change by ``cityhub.store.history.record_change``.

History instances, as read methods return them, are internal instances (see
``cityhub.ngsild.entity``) plus ``instanceId``, ``createdAt``, ``modifiedAt``, ``deletedAt``
for the records of a deletion, ``_time`` (the time along the query's timeproperty), ``_seq``
(recording order) and ``_display_time``; ``cityhub.ngsild.temporal_render`` renders them.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from cityhub.errors import ResourceNotFound
from cityhub.ngsild import ops
from cityhub.ngsild.aggregation import AggregatedHistory, AggregationQuery, Series
from cityhub.ngsild.datetime import now_iso, parse_datetime
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import TemporalQuery, latest_instances, normalize_time
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.history import recording_off
from cityhub.store.instances import by_dataset, strip_system, value_number
from cityhub.store.retention import (
    Pruner,
    RetentionPolicy,
)
from cityhub.store.temporal_sql import Head, Reading, TemporalRows, stats_of

History = dict[str, list[Instance]]  # attribute IRI → instances in time order
TemporalEntity = tuple[Head, History]
AggregatedEntity = tuple[Head, AggregatedHistory]
R = TypeVar("R")


def _history(rows: TemporalRows, ids: Sequence[str], reading: Reading) -> dict[str, History]:
    out: dict[str, History] = {i: {} for i in ids}
    if not ids:
        return out
    observed = reading.tq.timeproperty == "observedAt"
    for entity_id, attr, instance_id, created, modified, deleted, body, t, seq in rows.history(
        ids, reading
    ):
        # JSON text, or the instance itself when the backend rebuilt it from compact columns
        inst: Instance = orjson.loads(body) if isinstance(body, str) else body
        inst["instanceId"] = instance_id
        inst["createdAt"] = created
        inst["modifiedAt"] = modified
        if deleted:
            inst["deletedAt"] = deleted
        inst["_time"] = t
        inst["_seq"] = seq
        inst["_display_time"] = (inst.get("observedAt") or t) if observed else t
        out[entity_id].setdefault(attr, []).append(inst)
    return out


def _aggregated(
    rows: TemporalRows, ids: Sequence[str], reading: Reading, agg: AggregationQuery
) -> dict[str, AggregatedHistory]:
    out: dict[str, AggregatedHistory] = {i: {} for i in ids}
    if not ids:
        return out
    found: list[tuple[str, str, Series, int | None]] = []
    current: Series | None = None
    key: tuple[str, str, str] | None = None
    result, cut_ends = rows.aggregation(ids, reading, agg)
    for row in result:
        if (row[0], row[1], row[2]) != key:
            key = (row[0], row[1], row[2])
            current = Series("", row[2] or None, row[3], first_index=int(row[-2]))
            current.last_index = int(row[-1])
            out[row[0]].setdefault(row[1], []).append(current)
            found.append((row[0], row[1], current, row[8]))
        assert current is not None
        current.periods.append(stats_of(row))
    for (entity_id, attr), last in cut_ends.items():  # periods left out: the page is cut
        assert agg.period is not None
        for series in out[entity_id].get(attr, []):
            origin = parse_datetime(series.origin, "origin")
            series.last_index = max(series.last_index, agg.period.index_of(origin, last))
    rows.set_series_types(found)
    return out


def _add(
    rows: TemporalRows,
    entity_id: str,
    new: Mapping[str, list[Instance]],
    head_attrs: dict[str, Any],
    now: str,
) -> None:
    """Record ``new`` instances and keep, per datasetId, the latest observed in the head."""
    for iri, instances in new.items():
        rows.upsert_instances(entity_id, iri, instances, now)
        merged = by_dataset(head_attrs.get(iri, []))
        for latest in latest_instances({iri: instances})[iri]:
            key = latest.get("datasetId")
            old = merged.get(key)
            if old is None or str(latest.get("observedAt", "")) >= str(old.get("observedAt", "")):
                merged[key] = latest
        head_attrs[iri] = list(merged.values())


def _locked_attrs(rows: TemporalRows, entity_id: str) -> dict[str, Any]:
    head = rows.lock_head(entity_id)
    if head is None:
        raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
    return head[0]


def _find_instance(
    rows: TemporalRows, entity_id: str, attr: str, instance_id: str
) -> tuple[int, Instance]:
    _locked_attrs(rows, entity_id)
    found = rows.find_instance(entity_id, attr, instance_id)
    if found is None:
        raise ResourceNotFound(
            f"attribute {attr} of entity {entity_id} has no instance {instance_id}"
        )
    return found


class TemporalStore(ABC):
    """Temporal provision and consumption (clauses 5.6.11-5.6.16, 5.7.3-5.7.4), the rules
    once; a backend subclass says how its :class:`TemporalRows` run. Names are expanded IRIs;
    times are normalized (``YYYY-MM-DDTHH:MM:SS.ffffffZ``). Errors are ``cityhub.errors``
    types.

    Args:
        instance_limit: the most attribute instances one response carries; more are paged
            with Content-Range (206).
        retention_policy: how long history is kept.
    """

    _pruner: Pruner  # the backend's (cityhub.store.retention)

    def __init__(
        self, instance_limit: int = 1000, retention_policy: RetentionPolicy | None = None
    ) -> None:
        self.instance_limit = instance_limit
        self.retention_policy = retention_policy or RetentionPolicy()

    # ---- what a backend provides -------------------------------------------------------
    @abstractmethod
    async def _read(
        self, tenant: str, fn: Callable[[TemporalRows], R], query: EntityQuery | None = None
    ) -> R:
        """Run ``fn`` on the rows of one read (``query``: the entity query it answers)."""

    @abstractmethod
    async def _transaction(self, tenant: str, fn: Callable[[TemporalRows], R]) -> R:
        """Run ``fn`` on the rows of one transaction of history alone."""

    @abstractmethod
    async def _write(self, tenant: str, fn: Callable[[Transaction, TemporalRows], R]) -> R:
        """Run ``fn`` in one store write (entity changes through the ``Transaction``) with
        the rows of the same transaction."""

    async def start(self) -> None:
        """Background pruning when a retention is set (after the entity store started)."""
        self._pruner.start()

    async def stop(self) -> None:
        await self._pruner.stop()

    async def prune(self, now: str | None = None) -> int:
        """Delete instances older than the retention policy allows, in small transactions;
        returns how many went."""
        return await self._pruner.prune(now)

    # ---- provision ---------------------------------------------------------------------
    async def create_or_update(self, tenant: str, entity: Entity) -> bool:
        """Clause 5.6.11: add a temporal entity's instances; True when it was new.

        An entity unknown to the hub is also created in the current state, from the latest
        instance of each attribute, so the entity API sees it (the ETSI suite relies on this).
        """

        def run(tx: Transaction, rows: TemporalRows) -> bool:
            now = now_iso()
            head = rows.lock_head(entity["id"])
            if head is None:
                current = tx.get(entity["id"])
                if current is None:
                    current = {
                        "id": entity["id"],
                        "type": entity["type"],
                        "attrs": latest_instances(entity["attrs"]),
                    }
                    if entity.get("scope"):
                        current["scope"] = entity["scope"]
                    ops.new_entity(current, now)
                    with recording_off(tx):
                        tx.insert(current)
                attrs: dict[str, Any] = copy.deepcopy(current["attrs"])
                types = current["type"]
            else:
                attrs = head[0]
                types = list(dict.fromkeys([*head[1], *entity.get("type", [])]))
            _add(rows, entity["id"], entity["attrs"], attrs, now)
            tx.write_history_head({**entity, "type": types}, attrs, now, now)
            return head is None

        return await self._write(tenant, run)

    async def append_attributes(
        self, tenant: str, entity_id: str, attrs: Mapping[str, list[Instance]]
    ) -> None:
        """Clause 5.6.12 Add Attributes to Temporal Representation of an Entity."""

        def run(rows: TemporalRows) -> None:
            head_attrs = _locked_attrs(rows, entity_id)
            now = now_iso()
            _add(rows, entity_id, attrs, head_attrs, now)
            rows.set_head_attrs(entity_id, head_attrs, now)

        await self._transaction(tenant, run)

    async def append_many(
        self, tenant: str, histories: Mapping[str, Mapping[str, list[Instance]]]
    ) -> int:
        """:meth:`append_attributes` to several entities in one transaction (an instance
        replaces the one its attribute had at the same observedAt and datasetId); entities
        without a temporal representation are left out. How many entities had one."""

        def run(rows: TemporalRows) -> int:
            now = now_iso()
            found = 0
            for entity_id in sorted(histories):  # one lock order for every writer
                head = rows.lock_head(entity_id)
                if head is None:
                    continue
                _add(rows, entity_id, histories[entity_id], head[0], now)
                rows.set_head_attrs(entity_id, head[0], now)
                found += 1
            return found

        return await self._transaction(tenant, run) if histories else 0

    async def delete_entity(self, tenant: str, entity_id: str) -> None:
        """Clause 5.6.16 Delete Temporal Representation of an Entity: its whole history goes,
        and so does the entity of the current state (the temporal representation and the
        entity are one resource; see ``create_or_update``)."""

        def run(tx: Transaction, rows: TemporalRows) -> None:
            with recording_off(tx):
                existed = tx.delete(entity_id)
            if not rows.delete_history(entity_id) and not existed:
                raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")

        await self._write(tenant, run)

    async def delete_attribute(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
    ) -> None:
        """Clause 5.6.13: the attribute's history (the default instance's, one datasetId's, or
        every instance's with ``deleteAll``)."""

        def run(rows: TemporalRows) -> None:
            head_attrs = _locked_attrs(rows, entity_id)
            if rows.delete_attribute(entity_id, attr, dataset_id, delete_all) == 0:
                raise ResourceNotFound(f"entity {entity_id} has no history of attribute {attr}")
            if attr in head_attrs:
                kept = [
                    i
                    for i in head_attrs[attr]
                    if not delete_all and i.get("datasetId") != dataset_id
                ]
                if kept:
                    head_attrs[attr] = kept
                else:
                    del head_attrs[attr]
            rows.set_head_attrs(entity_id, head_attrs, now_iso())

        await self._transaction(tenant, run)

    async def modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> None:
        """Clause 5.6.14 Modify Attribute instance: the fragment's members replace the
        instance's; its instanceId stays."""

        def run(rows: TemporalRows) -> None:
            seq, inst = _find_instance(rows, entity_id, attr, instance_id)
            inst.update(strip_system(fragment))
            observed = inst.get("observedAt")
            observed_at = normalize_time(observed, "observedAt") if observed else None
            rows.update_instance(seq, inst, observed_at, value_number(inst), now_iso())

        await self._transaction(tenant, run)

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        """Clause 5.6.15 Delete Attribute instance."""

        def run(rows: TemporalRows) -> None:
            rows.delete_instance(_find_instance(rows, entity_id, attr, instance_id)[0])

        await self._transaction(tenant, run)

    # ---- consumption -------------------------------------------------------------------
    async def _read_entity(
        self,
        tenant: str,
        entity_id: str,
        attrs: Sequence[str] | None,
        read: Callable[[TemporalRows, list[str]], dict[str, R]],
    ) -> tuple[Head, R, set[str]] | None:
        def run(rows: TemporalRows) -> tuple[Head, R, set[str]] | None:
            head = rows.head(entity_id)
            if head is None:
                return None
            known = rows.with_history(entity_id, attrs) if attrs else set()
            return head, read(rows, [entity_id])[entity_id], known

        return await self._read(tenant, run)

    async def get_head(self, tenant: str, entity_id: str) -> Head | None:
        """The temporal representation's head (id, types, scopes, times), None without one:
        what an entity was, after it was deleted too (access control judges it by this)."""
        return await self._read(tenant, lambda rows: rows.head(entity_id))

    async def get_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[Head, History, set[str]] | None:
        """Clause 5.7.3: the head, the history asked for, and which of ``attrs`` have a
        history at all."""
        reading = Reading(tq, attrs, dataset_ids)
        return await self._read_entity(
            tenant, entity_id, attrs, lambda rows, ids: _history(rows, ids, reading)
        )

    async def aggregate_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        agg: AggregationQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[Head, AggregatedHistory, set[str]] | None:
        """Clause 5.7.3 in the aggregated representation (4.5.19), computed in SQL."""
        reading = Reading(tq, attrs, dataset_ids)
        return await self._read_entity(
            tenant, entity_id, attrs, lambda rows, ids: _aggregated(rows, ids, reading, agg)
        )

    async def _read_entities(
        self,
        tenant: str,
        query: EntityQuery,
        reading: Reading,
        read: Callable[[TemporalRows, list[str]], dict[str, R]],
    ) -> tuple[list[tuple[Head, R]], int | None]:
        def run(rows: TemporalRows) -> tuple[list[tuple[Head, R]], int | None]:
            result: list[tuple[Head, R]] = []
            if query.limit > 0:
                heads = rows.heads(query, reading)
                found = read(rows, [h["id"] for h in heads])
                result = [(h, found[h["id"]]) for h in heads]
            return result, rows.count(query, reading) if query.count else None

        return await self._read(tenant, run, query)

    async def query_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[TemporalEntity], int | None]:
        """Clause 5.7.4: the page of entities with history matching the query, and the count
        when asked for. ``query.attrs`` selects the attributes whose history is returned."""
        reading = Reading(tq, list(query.attrs) or None, dataset_ids)
        return await self._read_entities(
            tenant, query, reading, lambda rows, ids: _history(rows, ids, reading)
        )

    async def aggregate_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        agg: AggregationQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[AggregatedEntity], int | None]:
        """Clause 5.7.4 in the aggregated representation (4.5.19), computed in SQL."""
        reading = Reading(tq, list(query.attrs) or None, dataset_ids)
        return await self._read_entities(
            tenant, query, reading, lambda rows, ids: _aggregated(rows, ids, reading, agg)
        )
