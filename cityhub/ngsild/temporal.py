"""The temporal API's parameters and bodies, as pure functions (no I/O): the temporal query
language, the representation asked for, and temporal entity bodies.

Clauses of ETSI GS CIM 009 v1.8.1: 4.11 (temporal query language: ``timerel``, ``timeAt``,
``endTimeAt``, ``timeproperty``), 6.3.7 / 6.18.3.2 (``options``/``format``, ``lastN``), 4.5.19
(``aggrMethods``, ``aggrPeriodDuration``) and 5.6.11-5.6.12 (temporal entity bodies). Rendering
lives in ``cityhub.ngsild.temporal_render`` and ``cityhub.ngsild.aggregation``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cityhub.errors import BadRequestData, InvalidRequest
from cityhub.ngsild.aggregation import AGGREGATION_METHODS, AggregationQuery
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import Duration, parse_duration
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
    GEO_ATTRIBUTES,
    NGSI_LD_NULL,
    VALUE_MEMBER,
    check_uri,
)

#: sorts after every stored time (the last one, ``9999-12-31T23:59:59.999999Z``, is a prefix)
AFTER_ALL_TIMES = "9999-12-31T23:59:59.999999Z~"
TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
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
            try:
                later = parse_datetime(self.time_at, "timeAt") + timedelta(microseconds=1)
            except OverflowError:  # after the last instant: a bound every time is before
                return AFTER_ALL_TIMES, None
            return format_datetime(later), None
        if self.timerel == "between":
            return self.time_at, self.end_time_at
        return None, None


def normalize_time(text: object, what: str, *, zone_required: bool = False) -> str:
    """A client's date-time in the one sortable form the history stores."""
    return format_datetime(parse_datetime(text, what, zone_required=zone_required))


def _last_n(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:  # ASCII: int() reads "１"
        raise BadRequestData(f"lastN must be a positive integer, got {raw!r}")
    return int(text)


def parse_temporal_query(
    timerel: Any,
    time_at: Any,
    end_time_at: Any = None,
    timeproperty: Any = None,
    *,
    where: str = "",
    last_n: int | None = None,
) -> TemporalQuery:
    """The temporal query (clause 4.11; the TemporalQuery data type, clause 5.2.21): the one
    check for the URL parameters of the temporal API and of discovery (5.10.2), a Query's
    ``temporalQ`` (5.2.23) and a subscription's (5.2.12). An empty string is an absent value.

    Args:
        timerel: ``before``, ``after`` or ``between``; absent, no time bounds (and then no
            ``timeAt``/``endTimeAt`` either).
        time_at: the date-time ``timerel`` compares with (needed with a timerel).
        end_time_at: the end of ``between`` (needed there, later than ``timeAt``).
        timeproperty: observedAt (the default), createdAt, modifiedAt or deletedAt.
        where: what error details put before a member's name (``temporalQ.``).
        last_n: kept in the result (the temporal API's ``lastN``, clause 6.18.3.2).

    Raises:
        BadRequestData: an unknown timerel or time property, a missing or bad time.
    """
    if timerel in (None, ""):
        if time_at not in (None, "") or end_time_at not in (None, ""):
            raise BadRequestData(
                f"{where}timeAt and {where}endTimeAt need {where}timerel (before, after or between)"
            )
        timerel = None
    elif timerel not in TIMERELS:
        raise BadRequestData(f"{where}timerel must be before, after or between, got {timerel!r}")
    elif time_at in (None, ""):
        raise BadRequestData(f"{where}timerel={timerel} needs {where}timeAt (clause 4.11)")
    elif timerel == "between" and end_time_at in (None, ""):
        raise BadRequestData(f"{where}timerel=between needs {where}endTimeAt (clause 4.11)")
    # zone_required: a naive time is a local time of an unknown place (clause 4.6.3: UTC)
    start = normalize_time(time_at, f"{where}timeAt", zone_required=True) if timerel else None
    end = (
        normalize_time(end_time_at, f"{where}endTimeAt", zone_required=True)
        if timerel == "between"
        else None
    )
    if start is not None and end is not None and end <= start:
        raise BadRequestData(f"{where}endTimeAt must be later than {where}timeAt")
    if timeproperty not in (None, "") and timeproperty not in TIME_PROPERTIES:
        raise BadRequestData(
            f"{where}timeproperty must be one of {', '.join(TIME_PROPERTIES)}, got {timeproperty!r}"
        )
    return TemporalQuery(
        timerel=timerel,
        time_at=start,
        end_time_at=end,
        timeproperty=timeproperty or "observedAt",
        timeproperty_given=timeproperty not in (None, ""),
        last_n=last_n,
    )


def temporal_query_of(params: Mapping[str, Any]) -> TemporalQuery:
    """``timerel``/``timeAt``/``endTimeAt``/``timeproperty``/``lastN`` (clause 4.11, 6.18.3.2).

    Works on URL parameters and on the ``temporalQ`` member of a POST query (clause 5.2.24).

    Raises:
        BadRequestData: an unknown timerel or time property, a missing or bad time, a bad lastN.
    """
    return parse_temporal_query(
        params.get("timerel"),
        params.get("timeAt"),
        params.get("endTimeAt"),
        params.get("timeproperty"),
        last_n=_last_n(params.get("lastN")),
    )


def check_temporal_q(value: Any, what: str = "temporalQ") -> TemporalQuery:
    """A ``temporalQ`` member (a TemporalQuery object, clause 5.2.21: ``timerel`` and
    ``timeAt`` mandatory, ``endTimeAt`` with between, ``timeproperty`` optional), as entity
    and registration subscriptions take it (clause 5.2.12).

    Raises:
        BadRequestData: not such an object, or :func:`parse_temporal_query` refuses it.
    """
    if not isinstance(value, dict):
        raise BadRequestData(f"{what} must be an object with timerel and timeAt (clause 5.2.21)")
    unknown = set(value) - {"timerel", "timeAt", "endTimeAt", "timeproperty"}
    if unknown:
        raise BadRequestData(
            f"{what} has unknown members {', '.join(sorted(unknown))}; a TemporalQuery has "
            "timerel, timeAt, endTimeAt and timeproperty (clause 5.2.21)"
        )
    if value.get("timerel") in (None, ""):
        raise BadRequestData(f"{what} needs timerel: before, after or between (clause 5.2.21)")
    return parse_temporal_query(
        value.get("timerel"),
        value.get("timeAt"),
        value.get("endTimeAt"),
        value.get("timeproperty"),
        where=f"{what}.",
    )


# ---- representation: options / format (clause 6.3.7, 6.18.3.2) ------------------------


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
        if iri in GEO_ATTRIBUTES:
            attrs[iri] = [expand_instance(iri, item, terms, label=name) for item in items]
            continue
        expanded: list[Instance] = []
        for item in items:
            inst = _plain_number(item)
            expanded.append(
                inst if inst is not None else expand_instance(iri, item, terms, label=name)
            )
        attrs[iri] = expanded
    entity["attrs"] = attrs
    return entity


def _plain_number(item: Any) -> Instance | None:
    """What :func:`~cityhub.ngsild.entity.expand_instance` makes of the commonest temporal
    instance, a numeric Property with a valid observedAt and no other member (sensors send
    thousands of them in a request), without its general checks; None for anything else,
    which it then checks (and words the errors of). Not for the geo attributes' names."""
    if type(item) is dict and len(item) == 3 and item.get("type") == "Property":
        value = item.get("value")
        kind = type(value)
        observed = item.get("observedAt")
        if (kind is float or kind is int) and type(observed) is str and _valid_time(observed):
            return {"type": "Property", "value": value, "observedAt": observed}
    return None


@functools.lru_cache(maxsize=8192)
def _valid_time(text: str) -> bool:
    """Whether ``check_datetime`` takes ``text`` (instances of a request share their times)."""
    try:
        parse_datetime(text, "observedAt")
    except BadRequestData:
        return False
    return True


_NORMAL_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?Z")


def observed_time(text: Any) -> str:
    """An ``observedAt`` already validated (``check_datetime``), in the stored form (as
    :func:`normalize_time`): UTC times with at most microseconds (what sensors send) are padded
    as text, others go through the full parser."""
    if isinstance(text, str) and (m := _NORMAL_UTC.fullmatch(text)):
        return f"{text[:19]}.{(m.group(1) or '').ljust(6, '0')}Z"
    return normalize_time(text, "observedAt")


#: :func:`observed_time` of a text (a request's instances share their times)
_observed_text = functools.lru_cache(maxsize=8192)(observed_time)


def latest_instances(attrs: Mapping[str, list[Instance]]) -> dict[str, list[Instance]]:
    """The most recent instance (by observedAt, else the last listed) of each attribute and
    datasetId: what a temporal entity says the entity looks like now."""
    out: dict[str, list[Instance]] = {}
    for iri, instances in attrs.items():
        times: dict[str | None, str] = {}
        best: dict[str | None, Instance] = {}
        for inst in instances:  # of two at the same time, the one listed later
            key = inst.get("datasetId")
            if "observedAt" not in inst:
                when = ""
            elif type(observed := inst["observedAt"]) is str:
                when = _observed_text(observed)
            else:
                when = observed_time(observed)
            if key not in times or when >= times[key]:
                times[key] = when
                best[key] = inst
        out[iri] = [dict(v) for v in best.values()]
    return out


def null_instance(inst: Instance, deleted_at: str) -> Instance:
    """The record of a deleted attribute instance (clause 4.5.0: NGSI-LD Null + deletedAt)."""
    attr_type = inst.get("type", "Property")
    out: Instance = {"type": attr_type, VALUE_MEMBER[attr_type]: NULL_VALUE[attr_type]}
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    out["deletedAt"] = deleted_at
    return out


def aggregation_query_of(
    rep: TemporalRepresentation, query: TemporalQuery, max_periods: int
) -> AggregationQuery:
    """What a store computes for ``aggregatedValues`` (clause 4.5.19): the period grid starts
    at ``timeAt`` for after/between, and the whole-range period ends at the query's closing
    edge (``endTimeAt`` of between, ``timeAt`` of before)."""
    _, end = query.bounds()
    return AggregationQuery(
        methods=rep.aggr_methods,
        period=rep.aggr_period,
        origin=query.time_at if query.timerel in ("after", "between") else None,
        range_end=end,
        max_periods=max_periods,
        newest_first=query.last_n is not None,
    )
