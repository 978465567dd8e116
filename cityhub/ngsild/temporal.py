"""Temporal representation of entities: the temporal query language, temporal entity bodies,
and the three temporal representations, as pure functions (no I/O).

Clauses of ETSI GS CIM 009 v1.8.1: 4.5.7 (normalized temporal representation: each attribute
is an array of instances), 4.5.9 (simplified: ``temporalValues``, ``[value, time]`` pairs),
4.5.19 (aggregated: ``aggrMethods`` over ``aggrPeriodDuration`` buckets), 4.11 (temporal query
language: ``timerel``, ``timeAt``, ``endTimeAt``, ``timeproperty``) and 6.3.7 / 6.18.3.2
(``options``/``format``, ``lastN``).

A history instance, as the store hands it over, is an internal instance (see
``cityhub.ngsild.entity``) plus ``instanceId``, ``createdAt`` and ``modifiedAt`` (when it was
recorded and last patched), ``deletedAt`` for the records of a deletion, and ``_time``: its time
along the query's ``timeproperty``, normalized to UTC.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cityhub.errors import BadRequestData, InvalidRequest
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.entity import (
    Entity,
    Instance,
    Terms,
    check_scope,
    expand_instance,
    expand_name,
    expand_types,
)
from cityhub.ngsild.names import (
    ENTITY_MEMBERS,
    NGSI_LD_NULL,
    VALUE_MEMBER,
    check_uri,
)
from cityhub.ngsild.projection import Tree

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
AGGREGATION_METHODS = (
    "totalCount",
    "distinctCount",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "sumsq",
)
TEMPORAL_FORMATS = ("normalized", "concise", "temporalValues", "aggregatedValues")
TEMPORAL_OPTIONS = frozenset({*TEMPORAL_FORMATS, "simplified", "sysAttrs", "count"})

#: clause 4.5.9: the member holding the ``[value, time]`` pairs of each attribute type
TEMPORAL_VALUES_MEMBER: dict[str, str] = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "JsonProperty": "jsons",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
}

#: how a deleted attribute is recorded (clause 4.5.0, NGSI-LD Null in each type's shape)
NULL_VALUE: dict[str, Any] = {
    "Property": NGSI_LD_NULL,
    "GeoProperty": NGSI_LD_NULL,
    "Relationship": NGSI_LD_NULL,
    "LanguageProperty": {"@none": NGSI_LD_NULL},
    "VocabProperty": NGSI_LD_NULL,
    "JsonProperty": NGSI_LD_NULL,
    "ListProperty": [NGSI_LD_NULL],
    "ListRelationship": [{"object": NGSI_LD_NULL}],
}

_SYSTEM = ("createdAt", "modifiedAt", "deletedAt", "instanceId")


# ---- the temporal query (clause 4.11) ---------------------------------------------------


@dataclass(frozen=True)
class TemporalQuery:
    """A temporal query with its times normalized to UTC (``YYYY-MM-DDTHH:MM:SS.ffffffZ``).

    ``timeproperty_given`` tells whether the client named the time property: with no
    ``timerel`` and no explicit ``timeproperty`` every instance is returned, also those without
    an ``observedAt``.
    """

    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None
    timeproperty: str = "observedAt"
    timeproperty_given: bool = False
    last_n: int | None = None

    def bounds(self) -> tuple[str | None, str | None]:
        """The half-open time window ``[start, end)`` (``None`` = unbounded), clause 4.11:
        before → t < timeAt; after → t > timeAt (taken as ≥ the next microsecond);
        between → timeAt ≤ t < endTimeAt."""
        if self.timerel == "before":
            return None, self.time_at
        if self.timerel == "after":
            assert self.time_at is not None
            later = parse_datetime(self.time_at, "timeAt") + timedelta(microseconds=1)
            return format_datetime(later), None
        if self.timerel == "between":
            return self.time_at, self.end_time_at
        return None, None


def normalize_time(text: object, what: str) -> str:
    """A client's date-time in the one sortable form the history stores."""
    return format_datetime(parse_datetime(text, what))


def _last_n(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if not re.fullmatch(r"\d{1,9}", text) or int(text) < 1:
        raise BadRequestData(f"lastN must be a positive integer, got {raw!r}")
    return int(text)


def temporal_query_of(params: Mapping[str, Any]) -> TemporalQuery:
    """``timerel``/``timeAt``/``endTimeAt``/``timeproperty``/``lastN`` (clause 4.11, 6.18.3.2).

    Works on URL parameters and on the ``temporalQ`` member of a POST query (clause 5.2.24).

    Raises:
        BadRequestData: an unknown timerel or time property, a missing or bad time, a bad lastN.
    """
    timerel = params.get("timerel")
    time_at = params.get("timeAt")
    end_time_at = params.get("endTimeAt")
    if timerel in (None, ""):
        if time_at not in (None, "") or end_time_at not in (None, ""):
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between)")
        timerel = None
    elif timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, got {timerel!r}")
    elif time_at in (None, ""):
        raise BadRequestData(f"timerel={timerel} needs timeAt")
    elif timerel == "between" and end_time_at in (None, ""):
        raise BadRequestData("timerel=between needs endTimeAt")
    start = normalize_time(time_at, "timeAt") if timerel else None
    end = normalize_time(end_time_at, "endTimeAt") if timerel == "between" else None
    if start is not None and end is not None and end <= start:
        raise BadRequestData("endTimeAt must be later than timeAt")
    prop = params.get("timeproperty")
    if prop not in (None, "") and prop not in TIME_PROPERTIES:
        raise BadRequestData(
            f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}, got {prop!r}"
        )
    return TemporalQuery(
        timerel=timerel,
        time_at=start,
        end_time_at=end,
        timeproperty=prop or "observedAt",
        timeproperty_given=prop not in (None, ""),
        last_n=_last_n(params.get("lastN")),
    )


# ---- representation: options / format (clause 6.3.7, 6.18.3.2) ------------------------


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration: calendar months and an exact part."""

    months: int = 0
    exact: timedelta = timedelta(0)

    def add_to(self, when: datetime, times: int = 1) -> datetime:
        month = when.month - 1 + self.months * times
        year = when.year + month // 12
        month = month % 12 + 1
        day = min(when.day, _days_in_month(year, month))
        return when.replace(year=year, month=month, day=day) + self.exact * times

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.exact == timedelta(0)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> Duration:
    """``aggrPeriodDuration`` (ISO 8601 duration such as ``PT1H``, ``P1D``, ``P1M``)."""
    m = _DURATION.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(
            f"aggrPeriodDuration must be an ISO 8601 duration such as PT1H or P1D, got {text!r}"
        )
    y, mo, w, d, h, mi, s = m.groups()
    return Duration(
        months=int(y or 0) * 12 + int(mo or 0),
        exact=timedelta(
            weeks=int(w or 0),
            days=int(d or 0),
            hours=int(h or 0),
            minutes=int(mi or 0),
            seconds=float(s or 0),
        ),
    )


@dataclass(frozen=True)
class TemporalRepresentation:
    """How to render: ``format`` is normalized, concise, temporalValues or aggregatedValues."""

    format: str = "normalized"
    sys_attrs: bool = False
    aggr_methods: tuple[str, ...] = ()
    aggr_period: Duration | None = None


def _split(raw: str, what: str) -> list[str]:
    items = [i.strip() for i in raw.split(",")]
    if any(not i for i in items):
        raise BadRequestData(f"{what} {raw!r} has an empty element")
    return items


def representation_of(params: Mapping[str, str]) -> TemporalRepresentation:
    """``format``, ``options``, ``aggrMethods``, ``aggrPeriodDuration``; ``format`` wins over a
    representation named in ``options`` (clause 6.3.7).

    Raises:
        InvalidRequest: an unknown format or option (the request is malformed, clause 6.3.7).
        BadRequestData: two representations in options, aggregatedValues without aggrMethods.
    """
    opts: set[str] = set()
    if params.get("options"):
        opts = set(_split(params["options"], "options"))
        unknown = opts - TEMPORAL_OPTIONS
        if unknown:
            raise InvalidRequest(
                f"unknown options {', '.join(sorted(unknown))}; temporal options are "
                + ", ".join(sorted(TEMPORAL_OPTIONS))
            )
    fmt = params.get("format") or None
    if fmt == "simplified":
        fmt = "temporalValues"
    if fmt is not None and fmt not in TEMPORAL_FORMATS:
        raise InvalidRequest(
            f"format must be one of {', '.join(TEMPORAL_FORMATS)} here, got {fmt!r}"
        )
    if fmt is None:
        named = {
            "temporalValues" if o == "simplified" else o
            for o in opts & {*TEMPORAL_FORMATS, "simplified"}
        }
        if len(named) > 1:
            raise BadRequestData("ask for one temporal representation only in options")
        fmt = next(iter(named), "normalized")
    methods: tuple[str, ...] = ()
    period: Duration | None = None
    if fmt == "aggregatedValues":
        raw = params.get("aggrMethods")
        if not raw:
            raise BadRequestData(
                "the aggregated temporal representation needs aggrMethods, e.g. aggrMethods=avg"
            )
        methods = tuple(dict.fromkeys(_split(raw, "aggrMethods")))
        bad = [m for m in methods if m not in AGGREGATION_METHODS]
        if bad:
            raise BadRequestData(
                f"unknown aggrMethods {', '.join(bad)}; known: " + ", ".join(AGGREGATION_METHODS)
            )
        if params.get("aggrPeriodDuration"):
            period = parse_duration(params["aggrPeriodDuration"])
            if period.is_zero:
                period = None
    return TemporalRepresentation(
        format=fmt, sys_attrs="sysAttrs" in opts, aggr_methods=methods, aggr_period=period
    )


# ---- temporal entity bodies (clauses 5.6.11, 5.6.12) ------------------------------------


def expand_temporal_entity(
    body: Any, terms: Terms, *, need_id: bool = True, need_type: bool = True
) -> Entity:
    """A temporal entity body (clause 4.5.7: each attribute an instance or an array of
    instances, datasetIds repeating freely) in the internal form.

    Raises:
        InvalidRequest: the body is not an object, or is empty.
        BadRequestData: a bad id, type, attribute name or instance.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("the temporal entity must be a JSON object")
    if not body:
        raise InvalidRequest("the temporal entity is an empty JSON object")
    entity: Entity = {}
    if "id" in body:
        entity["id"] = check_uri(body["id"], "entity id")
    elif need_id:
        raise BadRequestData("the temporal entity has no id")
    if "type" in body:
        entity["type"] = expand_types(body["type"], terms, "entity type")
    elif need_type:
        raise BadRequestData("the temporal entity has no type")
    if "scope" in body:
        entity["scope"] = check_scope(body["scope"])
    attrs: dict[str, list[Instance]] = {}
    for name, value in body.items():
        if name in ENTITY_MEMBERS:
            continue
        iri = expand_name(name, terms, "attribute name")
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BadRequestData(f"attribute {name} has no instances")
        attrs[iri] = [expand_instance(iri, item, terms, label=name) for item in items]
    entity["attrs"] = attrs
    return entity


def latest_instances(attrs: Mapping[str, list[Instance]]) -> dict[str, list[Instance]]:
    """The most recent instance (by observedAt, else the last listed) of each attribute and
    datasetId: what a temporal entity says the entity looks like now."""
    out: dict[str, list[Instance]] = {}
    for iri, instances in attrs.items():
        best: dict[str | None, tuple[str, int, Instance]] = {}
        for pos, inst in enumerate(instances):
            key = inst.get("datasetId")
            when = normalize_time(inst["observedAt"], "observedAt") if "observedAt" in inst else ""
            if key not in best or (when, pos) >= best[key][:2]:
                best[key] = (when, pos, inst)
        out[iri] = [dict(v[2]) for v in best.values()]
    return out


def null_instance(inst: Instance, deleted_at: str) -> Instance:
    """The record of a deleted attribute instance (clause 4.5.0: NGSI-LD Null + deletedAt)."""
    attr_type = inst.get("type", "Property")
    out: Instance = {"type": attr_type, VALUE_MEMBER[attr_type]: NULL_VALUE[attr_type]}
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    out["deletedAt"] = deleted_at
    return out


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


def _number(inst: Instance) -> float | None:
    value = inst.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _aggregate(method: str, items: list[Instance]) -> Any:
    if method == "totalCount":
        return len(items)
    if method == "distinctCount":
        seen = {repr(i.get(VALUE_MEMBER[i["type"]])) for i in items}
        return len(seen)
    numbers = [n for n in (_number(i) for i in items) if n is not None]
    if not numbers:
        return None
    if method == "sum":
        return math.fsum(numbers)
    if method == "avg":
        return math.fsum(numbers) / len(numbers)
    if method == "min":
        return min(numbers)
    if method == "max":
        return max(numbers)
    if method == "stddev":
        return statistics.pstdev(numbers) if len(numbers) > 1 else 0.0
    return math.fsum(n * n for n in numbers)  # sumsq


def _aggregated_values(
    instances: list[Instance], rep: TemporalRepresentation, query: TemporalQuery
) -> Any:
    out = []
    for dataset_id, group in _by_dataset(instances).items():
        timed = sorted(
            (parse_datetime(i["_time"], "time"), n, i)
            for n, i in enumerate(group)
            if i.get("_time")
        )
        doc: dict[str, Any] = {"type": group[-1]["type"]}
        if dataset_id is not None:
            doc["datasetId"] = dataset_id
        buckets = _buckets(timed, rep.aggr_period, query)
        for method in rep.aggr_methods:
            doc[method] = [
                [_aggregate(method, items), format_time(start), format_time(end)]
                for start, end, items in buckets
            ]
        out.append(doc)
    return _one_or_many(out)


def format_time(value: datetime) -> str:
    """A bucket boundary, written without fractional seconds when it has none."""
    text = format_datetime(value)
    return text.replace(".000000Z", "Z")


def _buckets(
    timed: list[tuple[datetime, int, Instance]], period: Duration | None, query: TemporalQuery
) -> list[tuple[datetime, datetime, list[Instance]]]:
    if not timed:
        return []
    start_text, end_text = query.bounds()
    start = parse_datetime(query.time_at, "timeAt") if query.time_at and start_text else timed[0][0]
    if period is None:
        end = parse_datetime(end_text, "endTimeAt") if end_text else timed[-1][0]
        return [(start, end, [i for _, _, i in timed])]
    buckets: dict[int, list[Instance]] = {}
    index = 0
    bound = period.add_to(start)
    for when, _, inst in timed:
        while when >= bound:
            index += 1
            bound = period.add_to(start, index + 1)
            if index > 100_000:
                raise BadRequestData("aggrPeriodDuration is too short for this time range")
        buckets.setdefault(index, []).append(inst)
    return [
        (period.add_to(start, k), period.add_to(start, k + 1), items)
        for k, items in sorted(buckets.items())
    ]


def _paged_out(attr_type: str, rep: TemporalRepresentation) -> Any:
    if rep.format == "temporalValues":
        return {"type": attr_type, TEMPORAL_VALUES_MEMBER[attr_type]: []}
    if rep.format == "aggregatedValues":
        return {"type": attr_type, **{m: [] for m in rep.aggr_methods}}
    return []


def render_temporal_entity(
    head: Mapping[str, Any],
    history: Mapping[str, list[Instance]],
    terms: Terms,
    rep: TemporalRepresentation,
    proj: TemporalProjection,
    query: TemporalQuery,
) -> dict[str, Any]:
    """One entity's temporal representation (without @context).

    Args:
        head: id, type (IRIs), scope, createdAt, modifiedAt, deletedAt of the entity.
        history: attribute IRI → history instances in time order (see the module docstring).
    """
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
        elif rep.format == "aggregatedValues":
            out[name] = _aggregated_values(instances, rep, query)
        else:
            out[name] = [_compact_instance(i, terms, rep) for i in instances]
    return out


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
