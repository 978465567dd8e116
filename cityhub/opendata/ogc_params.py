"""OGC API - Features Part 1 Core (OGC 17-069r4): an ``/items`` request's parameters read into
an entity query. Pure.

- ``limit`` (/req/core/fc-limit-definition, -response): 1 and up, default 10; above the
  maximum the maximum is used, not an error (permission 5's "server side limit");
- ``bbox`` (/req/core/fc-bbox-definition, -response): 4 or 6 numbers in CRS84 (the
  vertical extent of 6 is ignored), features whose geometry intersects it; a box whose
  west edge is east of its east edge crosses the antimeridian;
- ``datetime`` (/req/core/fc-time-definition, -response): an instant or an interval
  (``start/end``, either end ``..`` or empty: open), features whose temporal property (the
  rule's ``datetimeAttribute``) lies in it;
- property filters (/rec/core/fc-filters): ``name=value`` on a public attribute, equality;
- ``offset`` (this server's paging, in its next/prev links) and ``f`` (json, html);
- any other parameter is a 400 (/req/core/query-param-unknown), as is a value that does not
  parse (/req/core/query-param-invalid).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cityhub.errors import BadRequestData
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.names import check_name
from cityhub.ngsild.query.ast import And, AttrPath, Comparison, DateTimeValue, Node, Scalar
from cityhub.ngsild.query.geo import GeoQuery
from cityhub.opendata.rules import Publication, core_terms
from cityhub.store.base import EntityQuery

DEFAULT_LIMIT = 10
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: the parameters /items knows besides property filters
KNOWN = frozenset({"limit", "offset", "bbox", "bbox-crs", "datetime", "f"})


def ogc_error(detail: str, code: str = "InvalidParameterValue") -> BadRequestData:
    """A 400 as OGC API's exception schema and NGSI-LD's ProblemDetails both read it
    (``code`` and ``description`` beside ``detail``)."""
    return BadRequestData(detail, code=code, description=detail)


@dataclass(frozen=True)
class ItemsRequest:
    """An ``/items`` request, read."""

    query: EntityQuery
    limit: int
    offset: int
    media: str  # json | html


def _whole(params: Mapping[str, str], name: str, default: int, low: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < low:
        raise ogc_error(f"{name} must be a whole number of at least {low}, got {raw!r}")
    return int(raw)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ogc_error(f"bbox holds {text!r}, which is not a number") from None
    if not math.isfinite(value):
        raise ogc_error(f"bbox holds {text!r}, which is not a finite number")
    return value


def _ring(west: float, south: float, east: float, north: float) -> tuple[tuple[float, ...], ...]:
    return ((west, south), (east, south), (east, north), (west, north), (west, south))


def parse_bbox(raw: str, geoproperty: str) -> GeoQuery:
    """``bbox`` as an ``intersects`` geo-query on ``geoproperty``."""
    parts = [_number(p.strip()) for p in raw.split(",")]
    if len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4:
        raise ogc_error(
            "bbox takes 4 numbers (west,south,east,north in CRS84 longitude and latitude) or 6 "
            f"(with heights), got {len(parts)}"
        )
    west, south, east, north = parts
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise ogc_error(
            "bbox must be west,south,east,north with longitudes in [-180, 180], latitudes in "
            f"[-90, 90] and south <= north, got {raw!r}"
        )
    # a box of no width or height still selects what lies on it
    if south == north:
        south, north = max(-90.0, south - 1e-9), min(90.0, north + 1e-9)
    if west == east:
        west, east = west - 1e-9, east + 1e-9
    if west <= east:
        return GeoQuery("intersects", "Polygon", (_ring(west, south, east, north),), geoproperty)
    # across the antimeridian: two boxes
    return GeoQuery(
        "intersects",
        "MultiPolygon",
        ((_ring(west, south, 180.0, north),), (_ring(-180.0, south, east, north),)),
        geoproperty,
    )


def _instant(text: str, end: bool) -> datetime:
    try:
        if len(text) == 10:  # a date: the whole day
            day = parse_datetime(text + "T00:00:00Z", "datetime", zone_required=True)
            return day + timedelta(days=1, microseconds=-1000) if end else day
        return parse_datetime(text, "datetime", zone_required=True)
    except BadRequestData:
        raise ogc_error(
            f"datetime holds {text!r}: give an RFC 3339 date-time with its zone "
            "(2026-01-14T07:00:00Z), a date, or an interval start/end with .. for an open end"
        ) from None


def parse_datetime_filter(raw: str, attribute: str) -> Node:
    """``datetime`` as a q condition on ``attribute`` (an IRI)."""
    path = AttrPath(attribute)

    def at(when: datetime) -> DateTimeValue:
        return DateTimeValue(format_datetime(when.astimezone(UTC)))

    if "/" not in raw:
        if len(raw) == 10:  # a date: within that day
            start, end = _instant(raw, False), _instant(raw, True)
            return And((Comparison(path, ">=", at(start)), Comparison(path, "<=", at(end))))
        return Comparison(path, "==", at(_instant(raw, False)))
    first, _, second = raw.partition("/")
    terms: list[Node] = []
    if first not in ("", ".."):
        terms.append(Comparison(path, ">=", at(_instant(first, False))))
    if second not in ("", ".."):
        terms.append(Comparison(path, "<=", at(_instant(second, True))))
    if "/" in second or not terms:
        raise ogc_error(
            f"datetime {raw!r} is not an interval: give start/end, either end may be .. "
            "(open), not both"
        )
    return terms[0] if len(terms) == 1 else And(tuple(terms))


def _filter_value(raw: str) -> Scalar:
    if raw in ("true", "false"):
        return raw == "true"
    try:
        number = float(raw)
    except ValueError:
        return raw
    if not math.isfinite(number):
        return raw
    return int(number) if number.is_integer() and "." not in raw and "e" not in raw else number


def read_items_request(
    params: Mapping[str, str], publication: Publication, max_limit: int
) -> ItemsRequest:
    """An ``/items`` request's parameters as an entity query of the published type.

    Raises:
        BadRequestData: an unknown parameter, or a value that does not parse (the OGC
            exception's ``code`` and ``description`` are in the body).
    """
    terms = core_terms()
    limit = min(_whole(params, "limit", DEFAULT_LIMIT, 1), max_limit)
    offset = _whole(params, "offset", 0, 0)
    media = params.get("f", "json")
    if media not in ("json", "html"):
        raise ogc_error(f"f must be json or html, got {media!r}")
    crs = params.get("bbox-crs", CRS84)
    if crs != CRS84:
        raise ogc_error(f"bbox-crs: this server takes bbox in {CRS84} only, got {crs!r}")
    geo = None
    if params.get("bbox") is not None:
        where = publication.geometry_attribute
        if where is None:
            raise ogc_error("bbox: this collection publishes no geometry")
        geo = parse_bbox(params["bbox"], where)
    conditions: list[Node] = []
    if params.get("datetime") is not None:
        conditions.append(parse_datetime_filter(params["datetime"], publication.datetime_attribute))
    for name in params:
        if name in KNOWN:
            continue
        try:
            iri = terms.expand(check_name(name, "parameter"))
        except BadRequestData:
            iri = ""
        if not iri or not publication.is_public(iri) or iri == publication.geometry_attribute:
            known = ", ".join(sorted(KNOWN))
            raise ogc_error(
                f"unknown parameter {name!r}: /items takes {known} and the collection's "
                "public attributes as filters (see /ogcapi/api)"
            )
        conditions.append(Comparison(AttrPath(iri), "==", _filter_value(params[name])))
    q: Node | None = None
    if conditions:
        q = conditions[0] if len(conditions) == 1 else And(tuple(conditions))
    query = EntityQuery(
        types=(publication.type,), q=q, geo=geo, limit=limit, offset=offset, count=True
    )
    return ItemsRequest(query, limit, offset, media)


__all__ = [
    "CRS84",
    "DEFAULT_LIMIT",
    "ItemsRequest",
    "ogc_error",
    "parse_bbox",
    "parse_datetime_filter",
    "read_items_request",
]
