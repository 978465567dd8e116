"""What discovery asks of a context source registration, and whether a registration answers
it (ETSI GS CIM 009 v1.8.1 clause 5.10.2 Query Context Source Registrations; the same test picks
the registrations a registration subscription is notified of, clause 5.11.7).

Pure: no I/O. A :class:`RegistrationQuery` holds names already expanded to IRIs;
:func:`matches_registration` applies it to a stored registration
(:mod:`cityhub.ngsild.registration`): entity ids, types and ``idPattern`` and ``attrs`` to one
``RegistrationInfo``, ``q``/``csf`` (clause 4.9) to the registration's own members and CSource
properties, a geo-query (clause 4.10) to ``location``/``observationSpace``/``operationSpace`` and
a temporal query (clause 4.11) to ``observationInterval`` or ``managementInterval``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.names import NGSI_LD
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.geo import GeoQuery, matches
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import scope_q_matches
from cityhub.ngsild.registration import GEO_MEMBERS, REGISTRATION_MEMBERS
from cityhub.ngsild.temporal import TemporalQuery, normalize_time


def registration_temporal_query(tq: TemporalQuery) -> TemporalQuery | None:
    """A temporal query (:func:`cityhub.ngsild.temporal.parse_temporal_query`) as it applies
    to registrations (clause 5.10.2): to ``observationInterval`` for observedAt, to
    ``managementInterval`` for createdAt and modifiedAt; None when it has no timerel.

    Raises:
        BadRequestData: timeproperty is deletedAt, which no registration member records.
    """
    if tq.timerel is None:
        return None
    if tq.timeproperty == "deletedAt":
        raise BadRequestData(
            "timeproperty deletedAt does not apply to registrations; use observedAt "
            "(observationInterval) or createdAt or modifiedAt (managementInterval), clause 5.10.2"
        )
    return tq


@dataclass(frozen=True)
class RegistrationQuery:
    """Discovery parameters (clause 5.10.2), names already IRIs.

    ``ids``, ``types``, ``id_pattern`` and ``attrs`` must be met by one RegistrationInfo (the
    store answers them in SQL); ``q``/``csf`` apply to the registration's own members and
    CSource properties, ``scope_q`` to its ``scope``, ``geo`` to its
    location/observationSpace/operationSpace and ``temporal`` to its observationInterval
    (observedAt) or managementInterval (createdAt, modifiedAt).
    """

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    id_pattern: str | None = None
    attrs: tuple[str, ...] = ()
    q: qast.Node | None = None
    csf: qast.Node | None = None
    geo: GeoQuery | None = None
    temporal: TemporalQuery | None = None
    scope_q: qast.Node | None = None

    @property
    def needs_filter(self) -> bool:
        """Whether :func:`matches_registration` must run beyond what SQL answered."""
        return any(x is not None for x in (self.q, self.csf, self.geo, self.temporal, self.scope_q))


def _entity_matches(entity: dict[str, Any], query: RegistrationQuery) -> bool:
    if query.types and entity["type"] not in query.types:
        return False
    eid, pattern = entity.get("id"), entity.get("idPattern")
    if query.ids:
        if eid is not None:
            if eid not in query.ids:
                return False
        elif pattern is not None and not any(regex.search(pattern, i) for i in query.ids):
            return False
    if query.id_pattern is not None and eid is not None:
        return regex.search(query.id_pattern, eid)
    return True


def _info_matches(info: dict[str, Any], query: RegistrationQuery) -> bool:
    if (query.types or query.ids or query.id_pattern is not None) and "entities" in info:
        if not any(_entity_matches(e, query) for e in info["entities"]):
            return False
    if query.attrs:
        names = [*info.get("propertyNames", ()), *info.get("relationshipNames", ())]
        if names and not set(names) & set(query.attrs):
            return False
    return True


def _interval_matches(doc: dict[str, Any], tq: TemporalQuery) -> bool:
    member = "observationInterval" if tq.timeproperty == "observedAt" else "managementInterval"
    interval = doc.get(member)
    if interval is None:
        return False
    # normalized date-times (one width, UTC) compare as the instants they stand for
    start = normalize_time(interval["startAt"], "startAt")
    end = normalize_time(interval["endAt"], "endAt") if "endAt" in interval else None
    assert tq.time_at is not None
    if tq.timerel == "before":
        return start < tq.time_at
    if tq.timerel == "after":
        return end is None or end > tq.time_at
    assert tq.end_time_at is not None
    return start < tq.end_time_at and (end is None or end > tq.time_at)


def _member_value(doc: dict[str, Any], iri: str) -> Any:
    props = doc.get("properties", {})
    if iri in props:
        value = props[iri]
        return value.get("value", value) if isinstance(value, dict) else value
    name = iri.removeprefix(NGSI_LD)
    if name != iri and name in REGISTRATION_MEMBERS and name != "information":
        return doc.get(name)
    return None


def _scalar_matches(op: str, actual: Any, wanted: qast.Scalar) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return (
            op in ("==", "!=") and isinstance(actual, bool) and (actual == wanted) == (op == "==")
        )
    if isinstance(wanted, int | float):
        if not isinstance(actual, int | float):
            return op == "!="
        left, right = float(actual), float(wanted)
    else:
        if not isinstance(actual, str):
            return op == "!="
        if op in ("~=", "!~="):
            found = regex.search(str(wanted), actual)
            return found == (op == "~=")
        left_s = (
            qast.canonical_datetime(actual) if isinstance(wanted, qast.DateTimeValue) else actual
        )
        right_s = (
            qast.canonical_datetime(wanted) if isinstance(wanted, qast.DateTimeValue) else wanted
        )
        if left_s is None or right_s is None:
            return op == "!="
        return _ordered(op, left_s, right_s)
    return _ordered(op, left, right)


_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
}


def _ordered(op: str, left: Any, right: Any) -> bool:
    return _COMPARE[op](left, right)


def _comparison_matches(node: qast.Comparison, doc: dict[str, Any]) -> bool:
    if node.op == qast.ABSENT:
        return not _comparison_matches(qast.Comparison(node.path), doc)
    value = _member_value(doc, node.path.attr)
    for key in node.path.compound:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return node.op == "!=" if node.op is not None else False
    if node.op is None:
        return True
    wanted = node.value
    candidates = value if isinstance(value, list) else [value]
    if isinstance(wanted, qast.Range):
        hit = any(
            _scalar_matches(">=", c, wanted.low) and _scalar_matches("<=", c, wanted.high)
            for c in candidates
        )
        return hit != (node.op == "!=")
    if isinstance(wanted, qast.ValueList):
        hit = any(_scalar_matches("==", c, w) for c in candidates for w in wanted.items)
        return hit != (node.op == "!=")
    assert wanted is not None
    if node.op == "!=":
        return not any(_scalar_matches("==", c, wanted) for c in candidates)
    return any(_scalar_matches(node.op, c, wanted) for c in candidates)


def _q_matches(node: qast.Node, doc: dict[str, Any]) -> bool:
    if isinstance(node, qast.And):
        return all(_q_matches(i, doc) for i in node.items)
    if isinstance(node, qast.Or):
        return any(_q_matches(i, doc) for i in node.items)
    if isinstance(node, qast.Comparison):
        return _comparison_matches(node, doc)
    return False


def _scopes(doc: dict[str, Any]) -> tuple[str, ...]:
    """A registration's ``scope`` (clause 5.2.9: a string or an array of them)."""
    scope = doc.get("scope")
    if isinstance(scope, str):
        return (scope,)
    return tuple(s for s in scope if isinstance(s, str)) if isinstance(scope, list) else ()


def matches_registration(doc: dict[str, Any], query: RegistrationQuery) -> bool:
    """Whether a stored registration answers a discovery query (clause 5.10.2)."""
    if (query.types or query.ids or query.id_pattern is not None or query.attrs) and not any(
        _info_matches(info, query) for info in doc["information"]
    ):
        return False
    for node in (query.q, query.csf):
        if node is not None and not _q_matches(node, doc):
            return False
    if query.scope_q is not None and not scope_q_matches(query.scope_q, _scopes(doc)):
        return False
    if query.geo is not None:
        member = query.geo.geoproperty.removeprefix(NGSI_LD)
        if member not in GEO_MEMBERS or not matches(query.geo, doc.get(member)):
            return False
    return query.temporal is None or _interval_matches(doc, query.temporal)


def parse_registration_q(text: str, expand: Callable[[str], str]) -> qast.Node:
    """A q or csf parameter of discovery, names expanded (clause 4.9)."""
    return qast.expand_q(parse_q(text), expand)
