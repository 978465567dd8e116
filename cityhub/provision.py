"""Context information provision (clause 5.6): entity writes and batch operations.

Each operation is one store transaction: read the entity, apply the pure operation from
``cityhub.ngsild.ops``, write it back. A failure raises and rolls the whole request back; batch
operations use a savepoint per entity so one bad entity does not undo the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityhub.errors import BadRequestData, CityhubError, ResourceNotFound
from cityhub.ngsild import ops
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity
from cityhub.store.base import EntityQuery, Store, Transaction


def _not_found(entity_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"there is no entity with id {entity_id}")


def _copy(entity: Entity) -> Entity:
    """A deep copy of a stored entity (plain JSON data): orjson's round trip is several times
    cheaper than the copy module, and this runs for every update."""
    copied: Entity = orjson.loads(orjson.dumps(entity))
    return copied


def _load(tx: Transaction, entity_id: str) -> tuple[Entity, Entity]:
    before = tx.get(entity_id)
    if before is None:
        raise _not_found(entity_id)
    return before, _copy(before)


def _check_type(entity: Entity, wanted: list[str] | None) -> None:
    if wanted and not set(wanted) & set(entity["type"]):
        raise ResourceNotFound(f"entity {entity['id']} is not of type {', '.join(wanted)}")


async def create_entity(store: Store, tenant: str, entity: Entity) -> None:
    """Clause 5.6.1 Create Entity."""
    ops.new_entity(entity, now_iso())
    await store.write(tenant, lambda tx: tx.insert(entity))


async def modify_entity(
    store: Store, tenant: str, entity_id: str, change: Callable[[Entity, str], Any]
) -> Any:
    """Read-modify-write of one entity in one transaction; returns what ``change`` returns."""

    def run(tx: Transaction) -> Any:
        before, entity = _load(tx, entity_id)
        now = now_iso()
        result = change(entity, now)
        entity["modifiedAt"] = now
        tx.save(entity, before)
        return result

    return await store.write(tenant, run)


async def delete_entity(store: Store, tenant: str, entity_id: str) -> None:
    """Clause 5.6.6 Delete Entity."""

    def run(tx: Transaction) -> None:
        if not tx.delete(entity_id):
            raise _not_found(entity_id)

    await store.write(tenant, run)


async def purge_entities(
    store: Store,
    tenant: str,
    query: EntityQuery,
    *,
    keep: list[str] | None = None,
    drop: list[str] | None = None,
) -> int:
    """Clause 5.6.21 Purge Entities: delete every matching entity, or only some attributes of
    each (``drop``), or all but some (``keep``). One transaction."""

    def run(tx: Transaction) -> int:
        ids = tx.query_ids(query)
        now = now_iso()
        for entity_id in ids:
            if keep is None and drop is None:
                tx.delete(entity_id)
                continue
            before, entity = _load(tx, entity_id)
            names = list(entity["attrs"])
            for iri in names:
                if (keep is not None and iri not in keep) or (drop is not None and iri in drop):
                    del entity["attrs"][iri]
            entity["modifiedAt"] = now
            tx.save(entity, before)
        return len(ids)

    return await store.write(tenant, run)


# ---- batch operations (clauses 5.6.7-5.6.10, 5.6.20) ----------------------------------


@dataclass
class BatchResult:
    """Clause 5.2.16 BatchOperationResult."""

    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[tuple[str, CityhubError]] = field(default_factory=list)


#: A batch item: the entity id (or None if unreadable), the expanded entity, or the error found
#: while validating it.
BatchItem = tuple[str | None, Entity | None, CityhubError | None]


def _run_batch(
    tx: Transaction,
    items: list[BatchItem],
    apply: Callable[[Transaction, Entity, BatchResult], CityhubError | None],
) -> BatchResult:
    result = BatchResult()
    for entity_id, entity, error in items:
        if error is not None or entity is None:
            assert error is not None
            result.errors.append((entity_id or "", error))
            continue
        try:
            with tx.savepoint():
                partial = apply(tx, entity, result)
        except CityhubError as exc:
            result.errors.append((entity["id"], exc))
            continue
        if partial is not None:  # done, but with something to report (e.g. noOverwrite)
            result.errors.append((entity["id"], partial))
        else:
            result.success.append(entity["id"])
    return result


async def batch_create(store: Store, tenant: str, items: list[BatchItem]) -> BatchResult:
    def apply(tx: Transaction, entity: Entity, result: BatchResult) -> CityhubError | None:
        tx.insert(ops.new_entity(entity, now_iso()))
        result.created.append(entity["id"])
        return None

    return await store.write(tenant, lambda tx: _run_batch(tx, items, apply))


async def batch_upsert(
    store: Store, tenant: str, items: list[BatchItem], *, replace: bool
) -> BatchResult:
    """Upsert: create, or else replace the entity (default) / update its attributes."""

    def apply(tx: Transaction, entity: Entity, result: BatchResult) -> CityhubError | None:
        now = now_iso()
        current = tx.get(entity["id"])
        if current is None:
            tx.insert(ops.new_entity(entity, now))
            result.created.append(entity["id"])
            return None
        before = _copy(current)
        if replace:
            ops.replace_entity(current, entity, now)
        else:
            ops.append_attributes(current, entity, now, overwrite=True)
        tx.save(current, before)
        return None

    return await store.write(tenant, lambda tx: _run_batch(tx, items, apply))


async def batch_update(
    store: Store, tenant: str, items: list[BatchItem], *, overwrite: bool
) -> BatchResult:
    def apply(tx: Transaction, entity: Entity, result: BatchResult) -> CityhubError | None:
        before, current = _load(tx, entity["id"])
        res = ops.append_attributes(current, entity, now_iso(), overwrite=overwrite)
        tx.save(current, before)
        if res.not_updated:
            return BadRequestData(
                "not updated: " + "; ".join(f"{iri} ({reason})" for iri, reason in res.not_updated),
                notUpdated=[iri for iri, _ in res.not_updated],
            )
        return None

    return await store.write(tenant, lambda tx: _run_batch(tx, items, apply))


async def batch_merge(store: Store, tenant: str, items: list[BatchItem]) -> BatchResult:
    def apply(tx: Transaction, entity: Entity, result: BatchResult) -> CityhubError | None:
        before, current = _load(tx, entity["id"])
        ops.merge_entity(current, entity, now_iso())
        tx.save(current, before)
        return None

    return await store.write(tenant, lambda tx: _run_batch(tx, items, apply))


async def batch_delete(store: Store, tenant: str, items: list[BatchItem]) -> BatchResult:
    def apply(tx: Transaction, entity: Entity, result: BatchResult) -> CityhubError | None:
        if not tx.delete(entity["id"]):
            raise _not_found(entity["id"])
        return None

    return await store.write(tenant, lambda tx: _run_batch(tx, items, apply))
