"""Split entities (ETSI GS CIM 009 v1.9.1 clause 5.7.2.4): an entity whose attributes are held
by several context sources (inclusive registrations) is filtered only once it is merged.

With ``splitEntities=true`` (or, when a request does not say, a deployment that allows split
entities: setting ``federation_split_entities``), "the filters (filter conditions specified by
the query, geospatial restrictions imposed by the geoquery, Scope query, Attributes) shall be
removed before forwarding the request": no source filters its part, and the broker applies the
filters to each merged entity (:func:`entity_filter`), as a store would to a whole one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.query.evaluate import q_matcher
from cityhub.ngsild.query.geo import GeoQuery, matches
from cityhub.ngsild.query.scope import scope_q_matches

Entity = dict[str, Any]

#: Query Entities parameters that are filters (taken off a split query before it is sent)
FILTER_PARAMETERS: Final = frozenset(
    {"q", "scopeQ", "georel", "geometry", "coordinates", "geoproperty", "attrs"}
)
#: the same members of a Query (POST /entityOperations/query, clause 5.2.23)
FILTER_MEMBERS: Final = frozenset({"q", "geoQ", "scopeQ", "attrs"})


def split_entities_of(value: str | None, default: bool) -> bool:
    """The ``splitEntities`` parameter (``true`` or ``false``), ``default`` when absent.

    Raises:
        BadRequestData: another value.
    """
    if value is None:
        return default
    if value not in ("true", "false"):
        raise BadRequestData(f"splitEntities must be true or false, got {value[:40]!r}")
    return value == "true"


def entity_filter(
    q: Node | None = None,
    scope_q: Node | None = None,
    geo: GeoQuery | None = None,
    attrs: Sequence[str] = (),
) -> Callable[[Entity], bool]:
    """Whether an entity (internal form, names expanded) passes a query's filters: ``q``
    (clause 4.9, :mod:`cityhub.ngsild.query.evaluate`), ``scope_q`` (4.19), ``geo`` (4.10:
    an instance of its geoproperty within it) and ``attrs`` (at least one of them present).

    Raises:
        BadRequestData: a q the stores would refuse (checked before any entity is read).
    """
    checks: list[Callable[[Entity], bool]] = []
    if attrs:
        wanted = tuple(attrs)
        checks.append(lambda e: any(a in (e.get("attrs") or {}) for a in wanted))
    if q is not None:
        checks.append(q_matcher(q))
    if scope_q is not None:
        node = scope_q
        checks.append(lambda e: scope_q_matches(node, tuple(e.get("scope") or ())))
    if geo is not None:
        area = geo
        checks.append(
            lambda e: any(
                isinstance(inst, dict) and matches(area, inst.get("value"))
                for inst in (e.get("attrs") or {}).get(area.geoproperty, ())
            )
        )
    return lambda entity: all(check(entity) for check in checks)


def without_filters(body: Any) -> Any:
    """A Query body (POST /entityOperations/query) with its filter members taken off."""
    if not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if k not in FILTER_MEMBERS}


__all__ = [
    "FILTER_MEMBERS",
    "FILTER_PARAMETERS",
    "entity_filter",
    "split_entities_of",
    "without_filters",
]
