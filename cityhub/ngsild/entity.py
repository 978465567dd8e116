"""Entity and attribute bodies: validate a client's JSON and expand it to the internal form.

The internal form (what the store keeps)::

    {"id": uri, "type": [type IRI, ...], "scope": [str, ...]?, "createdAt": str, "modifiedAt": str,
     "attrs": {attribute IRI: [instance, ...]}}

An instance is a dict with ``type`` (Property, Relationship, ...), the value member of that type
(``value``, ``object``, ``languageMap``, ``vocab``, ``json``, ``valueList``,
``objectList``), optional
``datasetId``, ``observedAt``, ``unitCode``, ``createdAt``, ``modifiedAt``, and sub-attributes keyed
by IRI (one instance each). Clauses: 4.5 (attribute types), 5.2.4-5.2.6 (entity), 4.5.5 (datasetId).
"""

from __future__ import annotations

from typing import Any, Protocol

from cityhub.errors import BadRequestData, InvalidRequest
from cityhub.ngsild.datetime import check_datetime
from cityhub.ngsild.geojson import GEOMETRY_TYPES, check_geometry
from cityhub.ngsild.names import (
    ATTRIBUTE_MEMBERS,
    ATTRIBUTE_TYPES,
    ENTITY_MEMBERS,
    GEO_ATTRIBUTES,
    NGSI_LD_NULL,
    VALUE_MEMBER,
    check_expanded,
    check_name,
    check_uri,
    is_null,
)

Instance = dict[str, Any]
Entity = dict[str, Any]


class Terms(Protocol):
    """What validation needs of a resolved @context: term ↔ IRI."""

    def expand(self, term: str) -> str: ...

    def compact(self, iri: str) -> str: ...


def expand_name(name: Any, terms: Terms, what: str) -> str:
    """A client's attribute name, entity type or member name as an IRI: checked as a name,
    expanded with the request's @context, and refused when it expands to a JSON-LD keyword."""
    return check_expanded(terms.expand(check_name(name, what)), name, what)


def expand_names(value: Any, terms: Terms, what: str) -> list[str]:
    """A non-empty array of attribute (or member) names as IRIs, each as :func:`expand_name`
    takes it, duplicates dropped: ``watchedAttributes``, ``notification.attributes``,
    ``propertyNames``/``relationshipNames``.

    Raises:
        BadRequestData: not a non-empty array, or a name :func:`expand_name` refuses.
    """
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{what} must be a non-empty array of names, got {value!r}")
    return list(dict.fromkeys(expand_name(n, terms, f"{what} element") for n in value))


def expand_types(value: Any, terms: Terms, what: str = "type") -> list[str]:
    """An entity's ``type`` member (a string or a non-empty array of strings) as IRIs."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise BadRequestData(f"{what} must not be an empty array")
    out: list[str] = []
    for item in items:
        iri = expand_name(item, terms, what)
        if iri not in out:
            out.append(iri)
    return out


def check_scope(value: Any) -> list[str]:
    """``scope`` (clause 4.18): a string or array of strings, each '/'-separated, starting '/'."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if (
            not isinstance(item, str)
            or not item.startswith("/")
            or item.endswith("/")
            and item != "/"
            or "//" in item
            or any(c in item for c in " #+")
        ):
            raise BadRequestData(
                f"scope values must be paths such as /Seongnam/Bundang, got {item!r}"
            )
    return list(dict.fromkeys(items))


def expand_entity(
    body: Any,
    terms: Terms,
    *,
    need_id: bool = True,
    need_type: bool = True,
    allow_null: bool = False,
) -> Entity:
    """Validate an entity body and expand it; system members the client sent are ignored.

    Args:
        body: the parsed JSON.
        terms: the request's resolved @context.
        need_id / need_type: whether ``id`` / ``type`` must be present (fragments omit them).
        allow_null: accept ``urn:ngsi-ld:null`` values (merge operations).

    Raises:
        BadRequestData: the body is not a valid NGSI-LD entity; the detail names the member.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("the entity must be a JSON object")
    if not body and need_id:
        raise InvalidRequest("the entity is an empty JSON object; it needs at least id and type")
    entity: Entity = {}
    if "id" in body or "@id" in body:
        entity["id"] = check_uri(body.get("id", body.get("@id")), "entity id")
    elif need_id:
        raise BadRequestData(
            "the entity has no id; give one such as urn:ngsi-ld:AirQualityObserved:1"
        )
    if "type" in body or "@type" in body:
        entity["type"] = expand_types(body.get("type", body.get("@type")), terms, "entity type")
    elif need_type:
        raise BadRequestData("the entity has no type; give one such as AirQualityObserved")
    if "scope" in body:
        entity["scope"] = check_scope(body["scope"])
    attrs: dict[str, list[Instance]] = {}
    for name, value in body.items():
        if name in ENTITY_MEMBERS:
            continue
        iri = expand_name(name, terms, "attribute name")
        attrs[iri] = expand_attribute(iri, value, terms, name=name, allow_null=allow_null)
    entity["attrs"] = attrs
    return entity


def expand_attribute(
    iri: str, value: Any, terms: Terms, *, name: str | None = None, allow_null: bool = False
) -> list[Instance]:
    """One attribute's value (an instance or an array of instances with distinct datasetIds)."""
    label = name or iri
    items = value if isinstance(value, list) and _is_instance_list(value) else [value]
    out: list[Instance] = []
    seen: set[str | None] = set()
    for item in items:
        inst = expand_instance(iri, item, terms, label=label, allow_null=allow_null)
        ds = inst.get("datasetId")
        if ds in seen:
            which = f"datasetId {ds}" if ds else "no datasetId (the default instance)"
            raise BadRequestData(f"attribute {label} has two instances with {which}")
        seen.add(ds)
        out.append(inst)
    return out


def _is_instance_list(value: list[Any]) -> bool:
    # An array of objects each carrying an NGSI-LD member is a multi-instance attribute;
    # any other array is a concise Property value (clause 4.5.1).
    return bool(value) and all(
        isinstance(v, dict)
        and (
            "type" in v
            and v["type"] in ATTRIBUTE_TYPES
            or any(m in v for m in VALUE_MEMBER.values())
        )
        for v in value
    )


def _infer_type(item: dict[str, Any]) -> str | None:
    for attr_type, member in (
        ("Relationship", "object"),
        ("LanguageProperty", "languageMap"),
        ("VocabProperty", "vocab"),
        ("JsonProperty", "json"),
        ("ListProperty", "valueList"),
        ("ListRelationship", "objectList"),
        ("Property", "value"),
    ):
        if member in item:
            return attr_type
    return None


def expand_instance(
    iri: str, item: Any, terms: Terms, *, label: str, allow_null: bool = False, sub: bool = False
) -> Instance:
    """Validate and expand one attribute instance, in normalized or concise form (clause 4.5)."""
    if item is None:
        raise BadRequestData(f"attribute {label} is null; give a value, or delete the attribute")
    if allow_null and is_null(item):
        return {"type": "Property", "value": NGSI_LD_NULL}
    if not isinstance(item, dict):
        # concise: a bare value is a Property
        return _finish({"type": "Property", "value": item}, iri, terms, label, allow_null)
    attr_type = item.get("type")
    if attr_type is not None and not isinstance(attr_type, str):
        raise BadRequestData(f"attribute {label}: type must be a string, got {attr_type!r}")
    if attr_type not in ATTRIBUTE_TYPES:
        inferred = _infer_type(item)
        if inferred is None:
            if attr_type in GEOMETRY_TYPES and "coordinates" in item:
                # concise GeoProperty: the GeoJSON geometry itself
                return _finish(
                    {"type": "GeoProperty", "value": item}, iri, terms, label, allow_null
                )
            if attr_type is not None:
                raise BadRequestData(
                    f"attribute {label} has type {attr_type!r}; it must be one of "
                    + ", ".join(sorted(ATTRIBUTE_TYPES))
                )
            raise BadRequestData(
                f"attribute {label} has neither a type nor a value member "
                "(value, object, languageMap, vocab, json, valueList or objectList)"
            )
        if attr_type is not None:
            raise BadRequestData(
                f"attribute {label} has type {attr_type!r}; it must be one of "
                + ", ".join(sorted(ATTRIBUTE_TYPES))
            )
        attr_type = inferred
        if (
            attr_type == "Property"
            and isinstance(item.get("value"), dict)
            and iri in GEO_ATTRIBUTES
        ):
            attr_type = "GeoProperty"
    inst: Instance = {"type": attr_type}
    member = VALUE_MEMBER[attr_type]
    if member not in item:
        raise BadRequestData(f"attribute {label} is a {attr_type} and needs a {member!r} member")
    inst[member] = item[member]
    for key, val in item.items():
        if key in (
            "type",
            member,
            "createdAt",
            "modifiedAt",
            "deletedAt",
            "instanceId",
            "@context",
        ):
            continue
        if key in ATTRIBUTE_MEMBERS:
            if key in VALUE_MEMBER.values():
                raise BadRequestData(
                    f"attribute {label} is a {attr_type}; {key!r} belongs to another attribute type"
                )
            inst[key] = val
            continue
        sub_iri = expand_name(key, terms, "sub-attribute name")
        if isinstance(val, list) and _is_instance_list(val):
            raise BadRequestData(f"sub-attribute {key} of {label} must be a single instance")
        inst[sub_iri] = expand_instance(
            sub_iri, val, terms, label=f"{label}.{key}", allow_null=allow_null, sub=True
        )
    return _finish(inst, iri, terms, label, allow_null)


def _finish(inst: Instance, iri: str, terms: Terms, label: str, allow_null: bool) -> Instance:
    attr_type = inst["type"]
    member = VALUE_MEMBER[attr_type]
    value = inst[member]
    if allow_null and is_null(value):
        return inst
    if value is None:
        raise BadRequestData(f"attribute {label}: {member} must not be null")
    if iri in GEO_ATTRIBUTES and attr_type != "GeoProperty":
        raise BadRequestData(f"attribute {label} must be a GeoProperty")
    if attr_type == "GeoProperty":
        check_geometry(value, f"attribute {label}")
    elif attr_type == "Relationship":
        objs = value if isinstance(value, list) else [value]
        if not objs:
            raise BadRequestData(f"relationship {label}: object must not be empty")
        for obj in objs:
            check_uri(obj, f"relationship {label}: object")
    elif attr_type == "LanguageProperty":
        if not isinstance(value, dict) or not value:
            raise BadRequestData(
                f"attribute {label}: languageMap must be an object of language "
                'tags to strings, such as {"en": "Park", "ko": "공원"}'
            )
        for tag, text in value.items():
            ok = isinstance(text, str) or (
                isinstance(text, list) and all(isinstance(t, str) for t in text)
            )
            if not ok or not isinstance(tag, str):
                raise BadRequestData(f"attribute {label}: languageMap[{tag!r}] must be a string")
    elif attr_type == "VocabProperty":
        words = value if isinstance(value, list) else [value]
        if not words or not all(isinstance(w, str) and w for w in words):
            raise BadRequestData(f"attribute {label}: vocab must be a string or array of strings")
        expanded = [terms.expand(w) for w in words]
        inst["vocab"] = expanded if isinstance(value, list) else expanded[0]
    elif attr_type == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData(f"attribute {label}: valueList must be an array")
    elif attr_type == "ListRelationship":
        if not isinstance(value, list):
            raise BadRequestData(f"attribute {label}: objectList must be an array")
        objs = []
        for obj in value:
            target = obj.get("object") if isinstance(obj, dict) else obj
            objs.append({"object": check_uri(target, f"relationship list {label}: object")})
        inst["objectList"] = objs
    elif (
        attr_type == "Property"
        and isinstance(value, dict)
        and "@value" not in value
        and value.get("type") in ("Property", "Relationship")
    ):
        raise BadRequestData(f"attribute {label}: a Property's value must not be an attribute")
    if "datasetId" in inst:
        check_uri(inst["datasetId"], f"attribute {label}: datasetId")
    if "observedAt" in inst:
        check_datetime(inst["observedAt"], f"attribute {label}: observedAt")
    if "unitCode" in inst and not isinstance(inst["unitCode"], str):
        raise BadRequestData(f"attribute {label}: unitCode must be a string (UN/CEFACT code)")
    return inst
