"""Context source registrations and registration subscriptions (ETSI GS CIM 009 v1.8.1).

Pure: validation, term expansion, PATCH merging, matching and rendering of

- ``CSourceRegistration`` (clause 5.2.9) with its ``RegistrationInfo`` (5.2.10) and
  ``EntityInfo`` (5.2.8), for clauses 5.9.2-5.9.4 and discovery (5.10.1-5.10.2);
- the registration flavour of ``Subscription`` (clause 5.2.12) for clauses 5.11.2-5.11.6.

Stored documents keep entity types, property and relationship names, watched and notified
attribute names as IRIs; every other member is kept as the client sent it. A registration's
additional members (its "CSource properties", clause 5.2.9) live under ``properties``, keyed by
IRI. ``compact_*`` turn a stored document back into what a client with a given @context reads.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.entity import expand_name
from cityhub.ngsild.geojson import check_geometry
from cityhub.ngsild.names import NGSI_LD, check_name, check_uri, is_uri
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.geo import GeoQuery, matches, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import check_scope_pattern, parse_scope_q
from cityhub.ngsild.subscription import new_subscription_id

REGISTRATION_TYPE: Final = "ContextSourceRegistration"
SUBSCRIPTION_TYPE: Final = "Subscription"
MODES: Final = ("inclusive", "exclusive", "redirect", "auxiliary")
#: Operation groups (clause 4.20, table 4.20-2) and single operations (table 4.20-1).
OPERATION_GROUPS: Final = frozenset({"federationOps", "updateOps", "retrieveOps", "redirectionOps"})
OPERATIONS: Final = OPERATION_GROUPS | frozenset(
    """createEntity updateEntity appendAttrs updateAttrs deleteAttrs deleteEntity replaceEntity
    replaceAttrs mergeEntity purgeEntity createBatch upsertBatch updateBatch deleteBatch
    mergeBatch retrieveEntity queryEntity queryBatch retrieveEntityTypes
    retrieveEntityTypeDetails retrieveEntityTypeInfo retrieveAttrTypes retrieveAttrTypeDetails
    retrieveAttrTypeInfo upsertTemporal appendAttrsTemporal deleteAttrsTemporal
    updateAttrsTemporal deleteAttrInstanceTemporal deleteTemporal mergeTemporal
    retrieveTemporal queryTemporal createSubscription updateSubscription retrieveSubscription
    querySubscription deleteSubscription queryEntityMap createEntityMap updateEntityMap
    deleteEntityMap retrieveEntityMap""".split()
)
GEO_MEMBERS: Final = ("location", "observationSpace", "operationSpace")
_FORMATS = frozenset({"normalized", "concise", "keyValues", "simplified"})
_ACCEPTS = frozenset({"application/json", "application/ld+json", "application/geo+json"})
#: Members the broker sets (clause 5.2.9 status members, system times); ignored on input.
_SYSTEM = frozenset(
    {"status", "timesSent", "timesFailed", "lastSuccess", "lastFailure", "createdAt", "modifiedAt"}
)
#: NotificationParams members the hub maintains (clause 5.2.14).
_NOTIFICATION_STATUS = frozenset(
    {"timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure", "status"}
)
_REGISTRATION_MEMBERS = frozenset(
    """id type registrationName description information tenant observationInterval
    managementInterval location observationSpace operationSpace expiresAt endpoint
    contextSourceInfo scope mode operations refreshRate management""".split()
)
_SUBSCRIPTION_MEMBERS = frozenset(
    """id type subscriptionName description entities watchedAttributes timeInterval q geoQ csf
    isActive notification expiresAt throttling temporalQ scopeQ lang jsonldContext""".split()
)
_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)


def new_registration_id() -> str:
    return f"urn:ngsi-ld:ContextSourceRegistration:{uuid.uuid4()}"


# ---- shared member checks -------------------------------------------------------------------


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{what} must be a non-empty string, got {value!r}")
    return value


def _names(value: Any, terms: TermMap, what: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{what} must be a non-empty array of names, got {value!r}")
    return [expand_name(n, terms, what) for n in value]


def check_regex(value: Any, what: str) -> str:
    """A regular expression (idPattern), checked (``cityhub.ngsild.regex``: RE2, linear)."""
    text = _string(value, what)
    regex.compile_pattern(text, what)
    return text


def _future(value: Any, what: str, now: datetime) -> str:
    if parse_datetime(value, what) <= now:
        raise BadRequestData(f"{what} {value!r} is not in the future")
    return str(value)


def _entity_infos(value: Any, terms: TermMap, what: str) -> list[dict[str, Any]]:
    """An array of EntityInfo (clause 5.2.8): ``type`` mandatory, ``id`` or ``idPattern``."""
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{what} must be a non-empty array of EntityInfo, got {value!r}")
    infos: list[dict[str, Any]] = []
    for pos, item in enumerate(value):
        label = f"{what}[{pos}]"
        if not isinstance(item, dict):
            raise BadRequestData(f"{label} must be an object with type and id or idPattern")
        unknown = set(item) - {"id", "idPattern", "type"}
        if unknown:
            raise BadRequestData(f"{label} has unknown members {', '.join(sorted(unknown))}")
        if "type" not in item:
            raise BadRequestData(f"{label} has no type (clause 5.2.8: type is mandatory)")
        info: dict[str, Any] = {}
        for key, val in item.items():
            if key == "id":
                info["id"] = check_uri(val, f"{label}.id")
            elif key == "idPattern":
                info["idPattern"] = check_regex(val, f"{label}.idPattern")
            else:
                info["type"] = terms.expand(check_name(val, f"{label}.type"))
        infos.append(info)
    return infos


def _compact_entities(infos: list[dict[str, Any]], terms: TermMap) -> list[dict[str, Any]]:
    return [{k: terms.compact(v) if k == "type" else v for k, v in i.items()} for i in infos]


def _key_values(value: Any, what: str) -> list[dict[str, str]]:
    """An array of KeyValuePair (clause 5.2.22)."""
    if not isinstance(value, list):
        raise BadRequestData(f"{what} must be an array of key-value pairs")
    for pair in value:
        if (
            not isinstance(pair, dict)
            or set(pair) != {"key", "value"}
            or not all(isinstance(v, str) and v for v in pair.values())
        ):
            raise BadRequestData(f"{what}: every element must be {{'key': str, 'value': str}}")
    return value


def _time_interval(value: Any, what: str) -> dict[str, str]:
    """A TimeInterval (clause 5.2.11): startAt mandatory, endAt optional and not before it."""
    if not isinstance(value, dict) or "startAt" not in value:
        raise BadRequestData(f"{what} must be an object with startAt and optionally endAt")
    unknown = set(value) - {"startAt", "endAt"}
    if unknown:
        raise BadRequestData(f"{what} has unknown members {', '.join(sorted(unknown))}")
    start = parse_datetime(value["startAt"], f"{what}.startAt")
    if "endAt" in value and parse_datetime(value["endAt"], f"{what}.endAt") < start:
        raise BadRequestData(f"{what}: endAt is before startAt")
    return value


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadRequestData(f"{what} must be a number greater than 0, got {value!r}")
    return value


# ---- CSourceRegistration (clause 5.2.9) -----------------------------------------------------


def _registration_info(value: Any, terms: TermMap) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(
            "information must be a non-empty array of RegistrationInfo (clause 5.2.10)"
        )
    out: list[dict[str, Any]] = []
    for pos, item in enumerate(value):
        label = f"information[{pos}]"
        if not isinstance(item, dict):
            raise BadRequestData(f"{label} must be an object")
        unknown = set(item) - {"entities", "propertyNames", "relationshipNames"}
        if unknown:
            raise BadRequestData(f"{label} has unknown members {', '.join(sorted(unknown))}")
        if not item:
            raise BadRequestData(
                f"{label} is empty: give entities, propertyNames or relationshipNames"
            )
        info: dict[str, Any] = {}
        for key, val in item.items():
            if key == "entities":
                info[key] = _entity_infos(val, terms, f"{label}.entities")
            else:
                info[key] = _names(val, terms, f"{label}.{key}")
        out.append(info)
    return out


def _operations(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("operations must be a non-empty array of operation names")
    for op in value:
        if op not in OPERATIONS:
            raise BadRequestData(
                f"operations: {op!r} is not an NGSI-LD operation or operation group "
                "(clause 4.20, e.g. federationOps, retrieveOps, queryEntity)"
            )
    return value


def _management(value: Any) -> dict[str, Any]:
    """RegistrationManagementInfo (clause 5.2.34)."""
    if not isinstance(value, dict):
        raise BadRequestData("management must be an object")
    for key, val in value.items():
        if key == "localOnly":
            if not isinstance(val, bool):
                raise BadRequestData("management.localOnly must be true or false")
        elif key in ("cacheDuration", "timeout", "cooldown"):
            _positive(val, f"management.{key}")
        else:
            raise BadRequestData(f"management has an unknown member {key!r}")
    return value


def _registration_member(key: str, value: Any, terms: TermMap, now: datetime) -> Any:
    """One member of a registration, checked (and expanded where it holds names)."""
    if key == "information":
        return _registration_info(value, terms)
    if key == "endpoint":
        return check_uri(value, "endpoint")
    if key == "expiresAt":
        return _future(value, "expiresAt", now)
    if key in ("registrationName", "description", "tenant"):
        return _string(value, key)
    if key in ("observationInterval", "managementInterval"):
        return _time_interval(value, key)
    if key in GEO_MEMBERS:
        check_geometry(value, key)
        return value
    if key == "contextSourceInfo":
        return _key_values(value, key)
    if key == "scope":
        for scope in value if isinstance(value, list) else [value]:
            if not isinstance(scope, str):
                raise BadRequestData(f"scope must be a string or array of strings: {value!r}")
            check_scope_pattern(scope)
        return value
    if key == "mode":
        if value not in MODES:
            raise BadRequestData(f"mode must be one of {', '.join(MODES)}, got {value!r}")
        return value
    if key == "operations":
        return _operations(value)
    if key == "refreshRate":
        if not (isinstance(value, str) and _DURATION.match(value)):
            raise BadRequestData(f"refreshRate must be an ISO 8601 duration, got {value!r}")
        return value
    if key == "management":
        return _management(value)
    raise AssertionError(key)  # pragma: no cover


def _check_registration(doc: dict[str, Any]) -> None:
    """Rules across members: mandatory members, exclusive registrations (clause 4.3.6.3)."""
    for key in ("information", "endpoint"):
        if key not in doc:
            raise BadRequestData(f"a ContextSourceRegistration needs {key} (clause 5.2.9)")
    if doc.get("mode") == "exclusive":
        for pos, info in enumerate(doc["information"]):
            label = f"information[{pos}]"
            entities = info.get("entities")
            if not entities or any("id" not in e or "idPattern" in e for e in entities):
                raise BadRequestData(
                    f"an exclusive registration names each entity by id, without idPattern "
                    f"(clause 4.3.6.3); {label} does not"
                )
            if not info.get("propertyNames") and not info.get("relationshipNames"):
                raise BadRequestData(
                    f"an exclusive registration lists the attributes it owns (clause 4.3.6.3); "
                    f"{label} has no propertyNames or relationshipNames"
                )


def _covers(info: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``other`` (any RegistrationInfo) covers an attribute of an entity ``info`` (an
    exclusive one: entity ids and attribute names) names."""
    ids = [e["id"] for e in info.get("entities", ())]
    names = {*info.get("propertyNames", ()), *info.get("relationshipNames", ())}
    other_names = {*other.get("propertyNames", ()), *other.get("relationshipNames", ())}
    if other_names and not other_names & names:
        return False
    if "entities" not in other:
        return True
    for entity in other["entities"]:
        if "id" in entity:
            if entity["id"] in ids:
                return True
        elif "idPattern" not in entity or any(regex.search(entity["idPattern"], i) for i in ids):
            return True
    return False


def proxied_conflict(new: dict[str, Any], existing: dict[str, Any]) -> bool:
    """Clause 4.3.6.3: once an exclusive registration exists, no further exclusive or redirect
    registration may cover the same attributes of the same entity."""
    if existing.get("mode") != "exclusive" or new.get("mode") not in ("exclusive", "redirect"):
        return False
    if new["id"] == existing["id"]:
        return False
    return any(
        _covers(held, wanted) for held in existing["information"] for wanted in new["information"]
    )


def _expand_registration_members(
    body: dict[str, Any], terms: TermMap, now: datetime, *, fragment: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("@context", "id") or key in _SYSTEM:
            continue
        if key == "type":
            if value != REGISTRATION_TYPE:
                raise BadRequestData(f"type must be {REGISTRATION_TYPE!r}, got {value!r}")
            continue
        if key in _REGISTRATION_MEMBERS:
            out[key] = (
                None if fragment and value is None else _registration_member(key, value, terms, now)
            )
            continue
        iri = expand_name(key, terms, "member name")
        if value is None and not fragment:
            raise BadRequestData(f"the CSource property {key!r} is null")
        properties[iri] = value
    if properties:
        out["properties"] = properties
    return out


def expand_registration(body: Any, terms: TermMap, now: datetime) -> dict[str, Any]:
    """A CSourceRegistration body (clauses 5.2.9, 5.9.2) → stored form.

    Args:
        body: the request body (its ``@context`` member, if any, is ignored here).
        terms: the request's term map.
        now: the current time (``expiresAt`` must be later).

    Returns:
        The document with names expanded; ``id`` is a generated URN when the body has none.

    Raises:
        BadRequestData: the body is not a valid CSourceRegistration.
    """
    if not isinstance(body, dict):
        raise BadRequestData("a ContextSourceRegistration must be a JSON object")
    if "type" not in body:
        raise BadRequestData(f"a ContextSourceRegistration needs type {REGISTRATION_TYPE!r}")
    reg_id = check_uri(body["id"], "id") if "id" in body else new_registration_id()
    doc = {"id": reg_id, "type": REGISTRATION_TYPE}
    doc.update(_expand_registration_members(body, terms, now, fragment=False))
    _check_registration(doc)
    return doc


def expand_registration_fragment(
    body: Any, terms: TermMap, registration_id: str, now: datetime
) -> dict[str, Any]:
    """A PATCH body (clause 5.9.3): the members to set, ``None`` for members to remove."""
    if not isinstance(body, dict):
        raise BadRequestData("the update of a registration must be a JSON object")
    if "id" in body and body["id"] != registration_id:
        raise BadRequestData(f"the body's id {body['id']!r} differs from the URL's")
    fragment = _expand_registration_members(body, terms, now, fragment=True)
    if not fragment:
        raise BadRequestData("the update names no member of the registration to change")
    return fragment


def merge_registration(
    doc: dict[str, Any], fragment: dict[str, Any], modified_at: str
) -> dict[str, Any]:
    """Apply a fragment: members replaced, ``None`` removes (clause 5.9.3), then re-checked."""
    merged = dict(doc)
    for key, value in fragment.items():
        if key == "properties":
            props = dict(merged.get("properties", {}))
            for iri, val in value.items():
                if val is None:
                    props.pop(iri, None)
                else:
                    props[iri] = val
            merged["properties"] = props
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if not merged.get("properties"):
        merged.pop("properties", None)
    _check_registration(merged)
    merged["modifiedAt"] = modified_at
    return merged


def compact_registration(
    doc: dict[str, Any], terms: TermMap, *, sys_attrs: bool = False
) -> dict[str, Any]:
    """The stored form → a client's view (clause 5.2.9), with ``mode`` and ``operations``
    defaults made explicit (inclusive, federationOps)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "information":
            out[key] = [
                {
                    k: _compact_entities(v, terms)
                    if k == "entities"
                    else list(map(terms.compact, v))
                    for k, v in info.items()
                }
                for info in value
            ]
        elif key == "properties":
            out.update({terms.compact(iri): val for iri, val in value.items()})
        elif key in ("createdAt", "modifiedAt"):
            if sys_attrs:
                out[key] = value
        else:
            out[key] = value
    out.setdefault("mode", "inclusive")
    out.setdefault("operations", ["federationOps"])
    return out


# ---- discovery (clause 5.10.2) --------------------------------------------------------------


@dataclass(frozen=True)
class TemporalQuery:
    """A temporal query (clause 4.11) as discovery applies it to registration intervals."""

    timerel: str
    time_at: datetime
    end_time_at: datetime | None = None
    timeproperty: str = "observedAt"


def parse_temporal_query(
    timerel: str | None,
    time_at: str | None,
    end_time_at: str | None = None,
    timeproperty: str | None = None,
) -> TemporalQuery | None:
    """``timerel``/``timeAt``/``endTimeAt``/``timeproperty`` (clause 4.11); None when absent."""
    if not timerel and not time_at and not end_time_at:
        return None
    if timerel not in ("before", "after", "between"):
        raise BadRequestData(f"timerel must be before, after or between, got {timerel!r}")
    if not time_at:
        raise BadRequestData(f"timerel={timerel} needs timeAt (clause 4.11)")
    start = parse_datetime(time_at, "timeAt")
    end = None
    if timerel == "between":
        if not end_time_at:
            raise BadRequestData("timerel=between needs endTimeAt (clause 4.11)")
        end = parse_datetime(end_time_at, "endTimeAt")
        if end <= start:
            raise BadRequestData("endTimeAt must be after timeAt")
    prop = timeproperty or "observedAt"
    if prop not in ("observedAt", "createdAt", "modifiedAt"):
        raise BadRequestData(
            f"timeproperty must be observedAt, createdAt or modifiedAt, got {prop!r}"
        )
    return TemporalQuery(timerel, start, end, prop)


@dataclass(frozen=True)
class RegistrationQuery:
    """Discovery parameters (clause 5.10.2), names already IRIs.

    ``ids``, ``types``, ``id_pattern`` and ``attrs`` must be met by one RegistrationInfo (the
    store answers them in SQL); ``q``/``csf`` apply to the registration's own members and
    CSource properties, ``geo`` to its location/observationSpace/operationSpace and
    ``temporal`` to its observationInterval (observedAt) or managementInterval (createdAt,
    modifiedAt).
    """

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    id_pattern: str | None = None
    attrs: tuple[str, ...] = ()
    q: qast.Node | None = None
    csf: qast.Node | None = None
    geo: GeoQuery | None = None
    temporal: TemporalQuery | None = None

    @property
    def needs_filter(self) -> bool:
        """Whether :func:`matches_registration` must run beyond what SQL answered."""
        return any(x is not None for x in (self.q, self.csf, self.geo, self.temporal))


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
    start = parse_datetime(interval["startAt"], "startAt")
    end = parse_datetime(interval["endAt"], "endAt") if "endAt" in interval else None
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
    if name != iri and name in _REGISTRATION_MEMBERS and name != "information":
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


def matches_registration(doc: dict[str, Any], query: RegistrationQuery) -> bool:
    """Whether a stored registration answers a discovery query (clause 5.10.2)."""
    if (query.types or query.ids or query.id_pattern is not None or query.attrs) and not any(
        _info_matches(info, query) for info in doc["information"]
    ):
        return False
    for node in (query.q, query.csf):
        if node is not None and not _q_matches(node, doc):
            return False
    if query.geo is not None:
        member = query.geo.geoproperty.removeprefix(NGSI_LD)
        if member not in GEO_MEMBERS or not matches(query.geo, doc.get(member)):
            return False
    return query.temporal is None or _interval_matches(doc, query.temporal)


def parse_registration_q(text: str, expand: Callable[[str], str]) -> qast.Node:
    """A q or csf parameter of discovery, names expanded (clause 4.9)."""
    return qast.expand_q(parse_q(text), expand)


# ---- registration subscriptions (clause 5.2.12) ---------------------------------------------


def _notification(value: Any, terms: TermMap) -> dict[str, Any]:
    """NotificationParams (clause 5.2.14) as a subscriber may send them."""
    if not isinstance(value, dict):
        raise BadRequestData("notification must be an object with an endpoint")
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, dict) or "uri" not in endpoint:
        raise BadRequestData("notification.endpoint with a uri is mandatory (clause 5.2.15)")
    out: dict[str, Any] = {}
    for key, val in value.items():
        if key == "attributes":
            out[key] = _names(val, terms, "notification.attributes")
        elif key == "format":
            if val not in _FORMATS:
                raise BadRequestData(f"notification.format {val!r} is not a known format")
            out[key] = val
        elif key in ("sysAttrs", "showChanges"):
            if not isinstance(val, bool):
                raise BadRequestData(f"notification.{key} must be true or false")
            out[key] = val
        elif key == "endpoint":
            out[key] = _endpoint(val)
        elif key in _SYSTEM or key == "lastNotification":
            continue
        else:
            raise BadRequestData(f"notification has an unknown member {key!r}")
    return out


def _endpoint(value: dict[str, Any]) -> dict[str, Any]:
    for key, val in value.items():
        if key == "uri":
            if not is_uri(val):
                raise BadRequestData(f"notification.endpoint.uri must be a URI, got {val!r}")
        elif key == "accept":
            if val not in _ACCEPTS:
                raise BadRequestData(f"notification.endpoint.accept {val!r} is not supported")
        elif key in ("receiverInfo", "notifierInfo"):
            _key_values(val, f"notification.endpoint.{key}")
        elif key in ("timeout", "cooldown"):
            _positive(val, f"notification.endpoint.{key}")
        else:
            raise BadRequestData(f"notification.endpoint has an unknown member {key!r}")
    return value


def _geo_q(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be an object with georel, geometry and coordinates")
    unknown = set(value) - {"georel", "geometry", "coordinates", "geoproperty"}
    if unknown:
        raise BadRequestData(f"geoQ has unknown members {', '.join(sorted(unknown))}")
    geo = parse_geo_query(
        value.get("georel"), value.get("geometry"), value.get("coordinates"),
        value.get("geoproperty"),
    )  # fmt: skip
    if geo is None:
        raise BadRequestData("geoQ needs georel, geometry and coordinates")
    return value


def _temporal_q(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("temporalQ must be an object with timerel and timeAt")
    unknown = set(value) - {"timerel", "timeAt", "endTimeAt", "timeproperty"}
    if unknown:
        raise BadRequestData(f"temporalQ has unknown members {', '.join(sorted(unknown))}")
    if value.get("timerel") is None:
        raise BadRequestData("temporalQ needs timerel")
    parse_temporal_query(
        value.get("timerel"), value.get("timeAt"), value.get("endTimeAt"),
        value.get("timeproperty"),
    )  # fmt: skip
    return value


def _subscription_member(key: str, value: Any, terms: TermMap, now: datetime) -> Any:
    if key == "entities":
        return _entity_infos(value, terms, "entities")
    if key == "watchedAttributes":
        return _names(value, terms, "watchedAttributes")
    if key == "notification":
        return _notification(value, terms)
    if key in ("subscriptionName", "description", "lang"):
        return _string(value, key)
    if key in ("timeInterval", "throttling"):
        return _positive(value, key)
    if key in ("q", "csf"):
        # read as entity subscriptions read q: percent-decoded like a URL's
        parse_q(unquote(_string(value, key)))
        return value
    if key == "scopeQ":
        parse_scope_q(_string(value, key))
        return value
    if key == "geoQ":
        return _geo_q(value)
    if key == "temporalQ":
        return _temporal_q(value)
    if key == "isActive":
        if not isinstance(value, bool):
            raise BadRequestData(f"isActive must be true or false, got {value!r}")
        return value
    if key == "expiresAt":
        return _future(value, "expiresAt", now)
    if key == "jsonldContext":
        return check_uri(value, "jsonldContext")
    raise AssertionError(key)  # pragma: no cover


def _check_subscription(doc: dict[str, Any]) -> None:
    if "notification" not in doc:
        raise BadRequestData("a Subscription needs notification (clause 5.2.12)")
    if "entities" not in doc and "watchedAttributes" not in doc:
        raise BadRequestData("a Subscription needs entities or watchedAttributes (5.2.12)")
    if "timeInterval" in doc and ("watchedAttributes" in doc or "throttling" in doc):
        raise BadRequestData(
            "timeInterval cannot be combined with watchedAttributes or throttling (5.2.12)"
        )


def _expand_subscription_members(
    body: dict[str, Any], terms: TermMap, now: datetime, *, fragment: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("@context", "id") or key in _SYSTEM:
            continue
        if key == "type":
            if value != SUBSCRIPTION_TYPE:
                raise BadRequestData(f"type must be {SUBSCRIPTION_TYPE!r}, got {value!r}")
            continue
        if key not in _SUBSCRIPTION_MEMBERS:
            raise BadRequestData(f"{key!r} is not a member of a Subscription (clause 5.2.12)")
        if value is None and fragment and key != "notification":
            out[key] = None
        else:
            out[key] = _subscription_member(key, value, terms, now)
    return out


def expand_csource_subscription(body: Any, terms: TermMap, now: datetime) -> dict[str, Any]:
    """A registration subscription body (clauses 5.2.12, 5.11.2) → stored form.

    The request's @context is kept (``_context``) for whoever evaluates ``q`` later.

    Raises:
        BadRequestData: the body is not a valid Subscription.
    """
    if not isinstance(body, dict):
        raise BadRequestData("a Subscription must be a JSON object")
    if "type" not in body:
        raise BadRequestData(f"a Subscription needs type {SUBSCRIPTION_TYPE!r}")
    sub_id = check_uri(body["id"], "id") if "id" in body else new_subscription_id()
    doc: dict[str, Any] = {"id": sub_id, "type": SUBSCRIPTION_TYPE}
    doc.update(_expand_subscription_members(body, terms, now, fragment=False))
    _check_subscription(doc)
    doc["_context"] = terms.context_value
    return doc


def expand_csource_subscription_fragment(
    body: Any, terms: TermMap, subscription_id: str, now: datetime
) -> dict[str, Any]:
    """A PATCH body (clause 5.11.3): members to set, ``None`` for members to remove."""
    if not isinstance(body, dict):
        raise BadRequestData("the update of a subscription must be a JSON object")
    if "id" in body and body["id"] != subscription_id:
        raise BadRequestData(f"the body's id {body['id']!r} differs from the URL's")
    if "type" in body and body["type"] is None:
        raise BadRequestData("type is mandatory and cannot be removed")
    fragment = _expand_subscription_members(body, terms, now, fragment=True)
    if not fragment:
        raise BadRequestData("the update names no member of the subscription to change")
    return fragment


def merge_csource_subscription(
    doc: dict[str, Any], fragment: dict[str, Any], modified_at: str
) -> dict[str, Any]:
    merged = dict(doc)
    for key, value in fragment.items():
        if value is None:
            merged.pop(key, None)
        elif key == "notification":
            # the status members the hub keeps (clause 5.2.14) outlive a new notification
            kept = {k: v for k, v in (doc.get(key) or {}).items() if k in _NOTIFICATION_STATUS}
            merged[key] = {**value, **kept}
        elif key == "_terms":
            merged[key] = {**(doc.get(key) or {}), **value}
        else:
            merged[key] = value
    _check_subscription(merged)
    merged["modifiedAt"] = modified_at
    return merged


def subscription_status(doc: dict[str, Any], now: datetime) -> str:
    """``active``, ``paused`` (isActive false) or ``expired`` (clause 5.2.12)."""
    if "expiresAt" in doc and parse_datetime(doc["expiresAt"], "expiresAt") <= now:
        return "expired"
    return "paused" if doc.get("isActive") is False else "active"


def compact_csource_subscription(
    doc: dict[str, Any], terms: TermMap, now: datetime, *, sys_attrs: bool = False
) -> dict[str, Any]:
    """The stored form → a client's view, with the computed ``status``."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "entities":
            out[key] = _compact_entities(value, terms)
        elif key == "watchedAttributes":
            out[key] = [terms.compact(v) for v in value]
        elif key == "notification":
            out[key] = {
                k: [terms.compact(a) for a in v] if k == "attributes" else v
                for k, v in value.items()
            }
        elif key.startswith("_") or (key in ("createdAt", "modifiedAt") and not sys_attrs):
            continue
        else:
            out[key] = value
    out["status"] = subscription_status(doc, now)
    return out


def registration_index(
    doc: dict[str, Any],
) -> Iterable[tuple[int, list[dict[str, Any]] | None, list[str] | None]]:
    """Per RegistrationInfo: its entities and attribute names (None: any), for the store."""
    for pos, info in enumerate(doc["information"]):
        names = [*info.get("propertyNames", ()), *info.get("relationshipNames", ())]
        yield pos, info.get("entities"), names or None
