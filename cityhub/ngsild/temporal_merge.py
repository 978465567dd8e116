"""Merging temporal representations from several sources (ETSI GS CIM 009 v1.9.1 clauses
5.7.3.4 and 5.7.4.4, distributed): the temporal evolution of an entity as this broker and
the registered context sources hold it, as one.

The documents merged are rendered (compacted with the caller's @context, which the
forwarded request carried, in the same format): per attribute, an instance a source sent is
added unless the same instance is already there; a source of an **auxiliary** registration
only adds instances whose time (the query's ``timeproperty``, ``observedAt`` by default) no
other source has (clause 5.7.3.4). ``temporalValues`` pairs merge the same way. The
instances are kept in time order.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from cityhub.ngsild.federation import AUXILIARY

#: members of a temporal entity that are not attributes
_HEAD: Final = frozenset(
    {"id", "type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt"}
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _time(instance: Any, timeproperty: str) -> str:
    if isinstance(instance, dict):
        found = instance.get(timeproperty)
        return found if isinstance(found, str) else ""
    if isinstance(instance, list) and len(instance) == 2 and isinstance(instance[1], str):
        return instance[1]  # a temporalValues pair [value, time]
    return ""


#: what an instance holds (not its system members such as instanceId, which differ per source)
_CONTENT: Final = ("value", "object", "languageMap", "vocab", "json", "datasetId", "type")


def _same(instance: Any, timeproperty: str) -> Any:
    """What makes two instances the same one: their time and content."""
    if isinstance(instance, dict):
        return (_time(instance, timeproperty), repr([instance.get(k) for k in _CONTENT]))
    return repr(instance)


def _merge_items(
    mine: list[Any], theirs: Iterable[Any], auxiliary: bool, timeproperty: str
) -> list[Any]:
    out = list(mine)
    times = {_time(i, timeproperty) for i in out}
    seen = {_same(i, timeproperty) for i in out}
    descending = len(out) > 1 and _time(out[0], timeproperty) > _time(out[-1], timeproperty)
    added = False
    for item in theirs:
        if _same(item, timeproperty) in seen or (auxiliary and _time(item, timeproperty) in times):
            continue
        out.append(item)
        times.add(_time(item, timeproperty))
        seen.add(_same(item, timeproperty))
        added = True
    if added:
        out.sort(key=lambda i: _time(i, timeproperty), reverse=descending)
    return out


def _merge_attribute(mine: Any, theirs: Any, auxiliary: bool, timeproperty: str) -> Any:
    """One attribute: lists of instances, or temporalValues objects (``values`` pairs)."""
    if isinstance(mine, dict) and isinstance(theirs, dict) and "values" in mine:
        if mine.get("datasetId") == theirs.get("datasetId") and isinstance(
            theirs.get("values"), list
        ):
            values = _merge_items(mine["values"], theirs["values"], auxiliary, timeproperty)
            return {**mine, "values": values}
    mine_list, theirs_list = _as_list(mine), _as_list(theirs)
    if any(isinstance(i, dict) and "values" in i for i in mine_list + theirs_list):
        by_dataset: dict[Any, Any] = {}
        for item in mine_list:
            by_dataset[item.get("datasetId") if isinstance(item, dict) else None] = item
        for item in theirs_list:
            key = item.get("datasetId") if isinstance(item, dict) else None
            if key in by_dataset:
                by_dataset[key] = _merge_attribute(by_dataset[key], item, auxiliary, timeproperty)
            elif not auxiliary or key not in by_dataset:
                by_dataset[key] = item
        merged = list(by_dataset.values())
        return merged[0] if len(merged) == 1 else merged
    return _merge_items(mine_list, theirs_list, auxiliary, timeproperty)


def merge_temporal(
    local: dict[str, Any] | None,
    remotes: Sequence[tuple[dict[str, Any], int]],
    timeproperty: str = "observedAt",
) -> dict[str, Any] | None:
    """The temporal entity ``local`` (None: this broker holds none) merged with each source's
    ``(document, rank)`` (:func:`cityhub.ngsild.federation.rank`); None when nobody has it."""
    out = dict(local) if local is not None else None
    for doc, rank in remotes:
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            continue
        if out is None:
            out = dict(doc)
            continue
        auxiliary = rank == AUXILIARY
        for name, value in doc.items():
            if name in _HEAD:
                continue
            if name not in out:
                out[name] = value
            else:
                out[name] = _merge_attribute(out[name], value, auxiliary, timeproperty)
    return out


def merge_temporal_lists(
    local: Sequence[dict[str, Any]],
    remotes: Sequence[tuple[Sequence[dict[str, Any]], int]],
    timeproperty: str = "observedAt",
) -> list[dict[str, Any]]:
    """Clause 5.7.4.4: the local temporal entities, then each source's, one per id (an
    entity several hold is merged with :func:`merge_temporal`), in order of first appearance."""
    merged: dict[str, dict[str, Any]] = {}
    for doc in local:
        merged[doc["id"]] = doc
    for docs, rank in remotes:
        for doc in docs:
            if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
                continue
            found = merge_temporal(merged.get(doc["id"]), [(doc, rank)], timeproperty)
            if found is not None:
                merged[doc["id"]] = found
    return list(merged.values())
