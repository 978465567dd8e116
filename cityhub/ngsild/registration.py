"""Context source registrations as data (ETSI GS CIM 009 v1.8.1 clause 5.2.9
``CSourceRegistration`` with its ``RegistrationInfo``, clause 5.2.10; operations 5.9.2-5.9.4).

Pure: validation, term expansion, PATCH merging and rendering. Stored documents keep entity
types, property and relationship names as IRIs; every other member is kept as the client sent
it. A registration's additional members (its "CSource properties", clause 5.2.9) live under
``properties``, keyed by IRI. :func:`compact_registration` turns a stored document back into
what a client with a given @context reads.

Beside it: ``entity_info`` (EntityInfo, clause 5.2.8), ``registration_mode`` (clause 4.3.6),
``registration_query`` (discovery, clause 5.10.2) and ``csource_subscription`` (registration
subscriptions, clauses 5.11.2-5.11.6).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import check_future, parse_datetime
from cityhub.ngsild.entity import expand_name, expand_names
from cityhub.ngsild.entity_info import check_entity_infos, compact_entity_infos
from cityhub.ngsild.geojson import check_geometry
from cityhub.ngsild.key_value_pair import check_key_values
from cityhub.ngsild.names import check_uri
from cityhub.ngsild.query.scope import check_scope_pattern
from cityhub.ngsild.registration_mode import MODES

REGISTRATION_TYPE: Final = "ContextSourceRegistration"
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
#: Members the broker sets (clause 5.2.9 status members, system times); ignored on input.
_SYSTEM = frozenset(
    {"status", "timesSent", "timesFailed", "lastSuccess", "lastFailure", "createdAt", "modifiedAt"}
)
#: The members of a CSourceRegistration (clause 5.2.9); any other is a CSource property.
REGISTRATION_MEMBERS: Final = frozenset(
    """id type registrationName description information tenant observationInterval
    managementInterval location observationSpace operationSpace expiresAt endpoint
    contextSourceInfo scope mode operations refreshRate management""".split()
)
_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$", re.ASCII
)


def new_registration_id() -> str:
    """A fresh id, ``urn:ngsi-ld:ContextSourceRegistration:<uuid4>`` (clause 5.9.2)."""
    return f"urn:ngsi-ld:ContextSourceRegistration:{uuid.uuid4()}"


# ---- shared member checks -------------------------------------------------------------------


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{what} must be a non-empty string, got {value!r}")
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
                info[key] = check_entity_infos(val, terms, f"{label}.entities")
            else:
                info[key] = expand_names(val, terms, f"{label}.{key}")
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
    """RegistrationManagementInfo (clause 5.2.34): ``cacheDuration`` is a duration (a string,
    ISO 8601 as ``refreshRate``), ``timeout`` and ``cooldown`` milliseconds greater than 0."""
    if not isinstance(value, dict):
        raise BadRequestData("management must be an object")
    for key, val in value.items():
        if key == "localOnly":
            if not isinstance(val, bool):
                raise BadRequestData("management.localOnly must be true or false")
        elif key == "cacheDuration":
            if not (isinstance(val, str) and _DURATION.match(val)):
                raise BadRequestData(
                    f"management.cacheDuration must be an ISO 8601 duration such as PT5M, "
                    f"got {val!r}"
                )
        elif key in ("timeout", "cooldown"):
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
        return check_future(value, "expiresAt", now)
    if key in ("registrationName", "description", "tenant"):
        return _string(value, key)
    if key in ("observationInterval", "managementInterval"):
        return _time_interval(value, key)
    if key in GEO_MEMBERS:
        check_geometry(value, key)
        return value
    if key == "contextSourceInfo":
        return check_key_values(value, key)
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
    """Rules across members: mandatory members (clause 5.2.9)."""
    for key in ("information", "endpoint"):
        if key not in doc:
            raise BadRequestData(f"a ContextSourceRegistration needs {key} (clause 5.2.9)")


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
        if key in REGISTRATION_MEMBERS:
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
                    k: compact_entity_infos(v, terms)
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


def registration_index(
    doc: dict[str, Any],
) -> Iterable[tuple[int, list[dict[str, Any]] | None, list[str] | None]]:
    """Per RegistrationInfo: its entities and attribute names (None: any), for the store."""
    for pos, info in enumerate(doc["information"]):
        names = [*info.get("propertyNames", ()), *info.get("relationshipNames", ())]
        yield pos, info.get("entities"), names or None
