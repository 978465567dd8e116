"""Rendering a history in the normalized (clause 4.5.7), concise and simplified
(``temporalValues``, 4.5.9) temporal representations, the aggregated one (4.5.19) from what
the store computed, and paging of instances (206 + ``Content-Range``, clause 6.3.10 of v1.8).

A history instance, as the store hands it over, is an internal instance (see
``cityhub.ngsild.entity``) plus ``instanceId``, ``createdAt`` and ``modifiedAt`` (when it was
recorded and last patched), ``deletedAt`` for the records of a deletion, ``_time``: its time
along the query's ``timeproperty`` normalized to UTC, and ``_seq``: its recording order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.aggregation import (
    AggregatedHistory,
    AggregationQuery,
    format_time,
    page_periods,
    render_series,
)
from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.entity import Instance, Terms
from cityhub.ngsild.names import VALUE_MEMBER
from cityhub.ngsild.projection import Tree
from cityhub.ngsild.temporal import (
    TEMPORAL_VALUES_MEMBER,
    TemporalQuery,
    TemporalRepresentation,
)

# ---- rendering (clauses 4.5.7, 4.5.9, 4.5.19) -------------------------------------------


@dataclass(frozen=True)
class TemporalProjection:
    """What to keep: pick/omit trees and attrs (IRIs), and the datasetIds asked for."""

    pick: Tree | None = None
    omit: Tree | None = None
    attrs: frozenset[str] | None = None
    dataset_ids: frozenset[str | None] | None = None

    def keep(self, name: str) -> bool:
        if self.pick is not None and name not in self.pick:
            return False
        if self.attrs is not None and name not in ("id", "type") and name not in self.attrs:
            return False
        return not (self.omit and name in self.omit and self.omit[name] is None)


def _compact_instance(inst: Instance, terms: Terms, rep: TemporalRepresentation) -> Any:
    attr_type = inst["type"]
    member = VALUE_MEMBER[attr_type]
    out: dict[str, Any] = {}
    if rep.format != "concise":
        out["type"] = attr_type
    value = inst[member]
    if attr_type == "VocabProperty":
        value = (
            [terms.compact(v) for v in value] if isinstance(value, list) else terms.compact(value)
        )
    out[member] = value
    for key, val in inst.items():
        if key in (member, "type") or key.startswith("_"):
            continue
        if key in ("createdAt", "modifiedAt"):
            if rep.sys_attrs:
                out[key] = val
        elif ":" in key and isinstance(val, dict) and "type" in val:
            out[terms.compact(key)] = _compact_instance(val, terms, rep)
        else:
            out[key] = val
    return out


def _time_of(inst: Instance) -> str:
    return str(inst.get("_display_time") or inst.get("_time") or "")


def _temporal_value(inst: Instance, terms: Terms) -> Any:
    attr_type = inst["type"]
    member = VALUE_MEMBER[attr_type]
    value = inst[member]
    if attr_type == "VocabProperty":
        value = (
            [terms.compact(v) for v in value] if isinstance(value, list) else terms.compact(value)
        )
    if attr_type in ("Property", "GeoProperty", "Relationship"):
        return value
    return {member: value}


def _by_dataset(instances: list[Instance]) -> dict[str | None, list[Instance]]:
    groups: dict[str | None, list[Instance]] = {}
    for inst in instances:
        groups.setdefault(inst.get("datasetId"), []).append(inst)
    return groups


def _one_or_many(items: list[dict[str, Any]]) -> Any:
    return items[0] if len(items) == 1 else items


def _temporal_values(instances: list[Instance], terms: Terms) -> Any:
    out = []
    for dataset_id, group in _by_dataset(instances).items():
        attr_type = group[-1]["type"]
        doc: dict[str, Any] = {"type": attr_type}
        if dataset_id is not None:
            doc["datasetId"] = dataset_id
        doc[TEMPORAL_VALUES_MEMBER[attr_type]] = [
            [_temporal_value(i, terms), _time_of(i)] for i in group
        ]
        out.append(doc)
    return _one_or_many(out)


def _paged_out(attr_type: str, rep: TemporalRepresentation) -> Any:
    if rep.format == "temporalValues":
        return {"type": attr_type, TEMPORAL_VALUES_MEMBER[attr_type]: []}
    return []


def _render_head(
    head: Mapping[str, Any], terms: Terms, rep: TemporalRepresentation, proj: TemporalProjection
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if proj.keep("id"):
        out["id"] = head["id"]
    if proj.keep("type"):
        types = [terms.compact(t) for t in head["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if head.get("scope") and proj.keep("scope"):
        scope = head["scope"]
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if rep.sys_attrs:
        for key in ("createdAt", "modifiedAt"):
            if head.get(key):
                out[key] = head[key]
    if head.get("deletedAt"):
        out["deletedAt"] = head["deletedAt"]
    return out


def render_temporal_entity(
    head: Mapping[str, Any],
    history: Mapping[str, list[Instance]],
    terms: Terms,
    rep: TemporalRepresentation,
    proj: TemporalProjection,
) -> dict[str, Any]:
    """One entity's normalized, concise or simplified temporal representation (without
    @context).

    Args:
        head: id, type (IRIs), scope, createdAt, modifiedAt, deletedAt of the entity.
        history: attribute IRI → history instances in time order (see the module docstring).
    """
    out = _render_head(head, terms, rep, proj)
    for iri, instances in history.items():
        if not proj.keep(iri):
            continue
        name = terms.compact(iri)
        if instances and instances[0].get("_paged_out"):
            out[name] = _paged_out(instances[0]["type"], rep)
            continue
        if proj.dataset_ids is not None:
            instances = [i for i in instances if i.get("datasetId") in proj.dataset_ids]
        if not instances:
            continue
        if rep.format == "temporalValues":
            out[name] = _temporal_values(instances, terms)
        else:
            out[name] = [_compact_instance(i, terms, rep) for i in instances]
    return out


def render_aggregated_entities(
    found: list[tuple[Mapping[str, Any], AggregatedHistory]],
    terms: Terms,
    rep: TemporalRepresentation,
    proj: TemporalProjection,
    agg: AggregationQuery,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Entities in the aggregated temporal representation (clause 4.5.19), at most ``limit``
    periods over all of them (one period counts as one instance for paging).

    Returns:
        the documents (without @context) and the ``Content-Range`` value when periods were
        left for another page.
    """
    laid, content_range = page_periods([history for _, history in found], agg, limit)
    docs = []
    for (head, history), layout in zip(found, laid, strict=True):
        out = _render_head(head, terms, rep, proj)
        for iri, series in layout.items():
            if proj.keep(iri) and series:
                out[terms.compact(iri)] = render_series(history[iri][0].attr_type, series, agg)
        docs.append(out)
    return docs, content_range


# ---- pagination of instances (clause 6.3.10 in v1.8: 206 + Content-Range) -------------


def paginate(
    histories: list[dict[str, list[Instance]]], limit: int, query: TemporalQuery
) -> str | None:
    """Keep at most ``limit`` instances over all ``histories`` (modified in place): the oldest
    ones, or the most recent ones with ``lastN``. Returns the ``Content-Range`` value
    (``date-time <start>-<end>/<size>``) when instances were left out, else None."""
    timed = [
        (str(inst.get("_time") or ""), int(inst.get("_seq", 0)), id(inst), inst)
        for history in histories
        for instances in history.values()
        for inst in instances
    ]
    if len(timed) <= limit:
        return None
    newest_first = query.last_n is not None
    timed.sort(reverse=newest_first)
    kept = timed[:limit]
    keep_ids = {k[2] for k in kept}
    for history in histories:
        for iri, instances in history.items():
            kept_here = [i for i in instances if id(i) in keep_ids]
            # an attribute paged out entirely stays, empty, so clients see it exists
            history[iri] = kept_here or [{"type": instances[0]["type"], "_paged_out": True}]
    first, last = _time_of(kept[0][3]), _time_of(kept[-1][3])
    if newest_first:
        if query.timerel == "before" and query.time_at:
            first = format_time(parse_datetime(query.time_at, "timeAt"))
        elif query.timerel == "between" and query.end_time_at:
            first = format_time(parse_datetime(query.end_time_at, "endTimeAt"))
        size = str(query.last_n)
    else:
        if query.timerel in ("after", "between") and query.time_at:
            first = format_time(parse_datetime(query.time_at, "timeAt"))
        size = "*"
    return f"date-time {first}-{last}/{size}"
