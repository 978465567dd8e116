"""Temporal history, the write path's rules (DESIGN.md decisions 2 and 4; ETSI GS CIM 009
clauses 4.5.0, 5.6.6, 5.7.3): which attribute instances an entity change records, and when the
entity's temporal head row changes. Written once, over the history rows a backend's
:class:`~cityhub.store.base.Transaction` offers (``add_history_instances``,
``write_history_head``, ``keep_history_head``, ``close_history_head``), so history commits or
rolls back with the change on every backend; each backend keeps only the SQL of those rows
(``store/<backend>/history.py``).

:func:`record_change` is the transaction hook ``open_backend`` installs unless the ``history``
setting is off; the temporal API writes the history of its own entity changes itself, inside
:func:`recording_off`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import orjson

from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.temporal import normalize_time, null_instance
from cityhub.store.base import Change, Transaction
from cityhub.store.instances import (
    InstanceRow,
    by_dataset,
    observed_time,
    strip_system,
    value_number,
)


def instance_row(
    tenant: str,
    entity_id: str,
    attr: str,
    inst: Instance,
    now: str,
    observed_at: str | None = None,
) -> InstanceRow:
    """The history row of an instance, recorded at its ``modifiedAt`` (else ``now``);
    ``observed_at``: the stored form of its observedAt, when the caller has it already."""
    body = strip_system(inst)
    deleted_at = body.pop("deletedAt", None)
    observed = body.get("observedAt")
    recorded = inst.get("modifiedAt") or now
    return (
        tenant,
        entity_id,
        attr,
        body.get("datasetId") or "",
        "",  # its instanceId is made from its seq (``InstanceRow``)
        observed_at or (observed_time(observed) if observed else None),
        recorded,
        recorded,
        normalize_time(deleted_at, "deletedAt") if deleted_at else None,
        orjson.dumps(body).decode(),
        None if deleted_at else value_number(body),
    )


@contextmanager
def recording_off(tx: Transaction) -> Iterator[None]:
    """Inside, :func:`record_change` records nothing of ``tx``'s changes (the temporal API
    writes the history of the entity changes it makes itself)."""
    tx.recording_history = False
    try:
        yield
    finally:
        tx.recording_history = True


def _changed(previous: Instance | None, inst: Instance) -> bool:
    # every instance a change writes gets a new modifiedAt (cityhub.ngsild.ops); an equal
    # modifiedAt means the instance was carried over untouched
    if previous is None:
        return True
    stamp = inst.get("modifiedAt")
    if stamp is not None:
        return bool(previous.get("modifiedAt") != stamp)
    return previous != inst


def _same_datasets(a: Sequence[Instance], b: Sequence[Instance]) -> bool:
    # plain indexing, not zip(strict=True): this runs for every attribute of every write
    n = len(a)
    if n != len(b):
        return False
    for i in range(n):
        if a[i].get("datasetId") != b[i].get("datasetId"):
            return False
    return True


def _untouched(previous: Sequence[Instance], instances: Sequence[Instance]) -> bool:
    """The attribute's instances are those it had, in the same order (the usual case for
    every attribute an update did not name): nothing to record, no per-dataset lookups."""
    if not _same_datasets(previous, instances):
        return False
    for i in range(len(previous)):
        if _changed(previous[i], instances[i]):
            return False
    return True


def record_change(tx: Transaction, change: Change) -> None:
    """The transaction hook: record the instances a change made, in the change's transaction.

    Created entities record every instance; updates record the instances that are new or
    differ (an update rewrites ``modifiedAt``, so every instance written counts), and a
    deleted attribute or entity records, per instance, an NGSI-LD Null with ``deletedAt``
    (clause 4.5.0, 5.6.6). The change's own ``modifiedAt`` is the recording time.

    The head row: while the entity exists, temporal queries read its system times, scopes and
    attributes from the current state, so an update of attribute values leaves the head alone
    (one row less to write per update); a new entity, or new types or scopes, rewrite it, and
    a deletion closes it with the entity's last types, scopes and attributes.
    """
    if not tx.recording_history:
        return
    tenant = change.tenant
    before = change.before
    after = change.after
    now = (after or {}).get("modifiedAt") or now_iso()  # the change's own time, once
    if after is None:
        if before is not None:
            tx.close_history_head(before, now)
    elif (
        before is None
        or before["type"] != after["type"]
        or before.get("scope") != after.get("scope")
    ):
        tx.write_history_head(after, {}, after.get("createdAt") or now, now)
    else:
        tx.keep_history_head(after, now)
    rows: list[InstanceRow] = []
    after_attrs: Mapping[str, list[Instance]] = after["attrs"] if after is not None else {}
    before_attrs: Mapping[str, list[Instance]] = before["attrs"] if before is not None else {}
    for iri, instances in after_attrs.items():
        previous = before_attrs.get(iri)
        if previous is not None and _untouched(previous, instances):
            continue
        old = by_dataset(previous or ())
        for inst in instances:
            if _changed(old.get(inst.get("datasetId")), inst):
                rows.append(instance_row(tenant, change.entity_id, iri, inst, now))
    for iri, instances in before_attrs.items():
        current = after_attrs.get(iri)
        if current is not None and _same_datasets(instances, current):
            continue
        new = by_dataset(current or ())
        for inst in instances:
            if inst.get("datasetId") not in new:
                deleted = null_instance(inst, now)
                rows.append(instance_row(tenant, change.entity_id, iri, deleted, now))
    if rows:
        tx.add_history_instances(rows)


__all__ = ["InstanceRow", "instance_row", "record_change", "recording_off"]
