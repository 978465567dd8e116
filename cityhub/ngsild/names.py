"""Names the NGSI-LD API reserves, and checks on identifiers (clauses 4.5, 4.6.2, 5.2)."""

from __future__ import annotations

import re
from typing import Any

from cityhub.errors import BadRequestData
from cityhub.ngsild.ids import check_id, is_id

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"

#: Attribute types (clause 4.5) and the member that holds each one's value.
VALUE_MEMBER: dict[str, str] = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
ATTRIBUTE_TYPES = frozenset(VALUE_MEMBER)

#: Members of an entity that are not attributes.
ENTITY_MEMBERS = frozenset(
    {"id", "type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt", "@id", "@type"}
)
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt"})

#: Members of an attribute instance that are not sub-attributes.
ATTRIBUTE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "languageMap",
        "vocab",
        "json",
        "valueList",
        "objectList",
        "datasetId",
        "observedAt",
        "unitCode",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "objectType",
        "lang",
        "previousValue",
        "previousObject",
        "previousLanguageMap",
        "previousVocab",
        "previousJson",
        "previousValueList",
        "previousObjectList",
        "@context",
    }
)

#: GeoProperties the core context defines (clause 4.7).
GEO_ATTRIBUTES = frozenset(
    {NGSI_LD + "location", NGSI_LD + "observationSpace", NGSI_LD + "operationSpace"}
)

#: The special value that deletes in merge operations (clause 4.5.0).
NGSI_LD_NULL = "urn:ngsi-ld:null"

# clause 4.6.2: names must not contain the characters below (and must not be empty)
_BAD_NAME = re.compile(r"[\s<>\"'=;()\\{}\[\]&?]")


def is_uri(value: Any) -> bool:
    """True for an absolute URI or IRI (:func:`cityhub.ngsild.ids.is_id`)."""
    return is_id(value)


def check_uri(value: Any, what: str) -> str:
    """``value`` when it is an absolute URI or IRI, else BadRequestData naming ``what`` and
    what is wrong (:func:`cityhub.ngsild.ids.check_id`, the one check of ids and URIs)."""
    return check_id(value, what)


def check_name(value: Any, what: str) -> str:
    """An attribute name or entity type as sent by a client (a term, CURIE or IRI)."""
    if not isinstance(value, str) or not value or len(value) > 512:
        raise BadRequestData(f"{what} must be a non-empty string, got {value!r}")
    if value.startswith("@"):
        raise BadRequestData(f"{what} {value!r} is a JSON-LD keyword, not a name")
    if _BAD_NAME.search(value):
        raise BadRequestData(
            f"{what} {value!r} contains a character the NGSI-LD names do not "
            "allow (whitespace or one of <>\"'=;()[]{{}}&?\\)"
        )
    return value


def check_expanded(iri: str, name: str, what: str) -> str:
    """A name must expand to an absolute IRI; ``type`` → ``@type`` and the like are refused."""
    if iri.startswith("@") or ":" not in iri:
        raise BadRequestData(
            f"{what} {name!r} does not expand to an IRI with the request's "
            f"@context (it gives {iri!r}); use another name"
        )
    return iri


def is_null(value: Any) -> bool:
    """The NGSI-LD Null (clause 4.5.0): ``urn:ngsi-ld:null`` in any attribute type's form."""
    if value == NGSI_LD_NULL:
        return True
    if isinstance(value, dict):
        return value == {"@none": NGSI_LD_NULL}
    if isinstance(value, list):
        return len(value) == 1 and (
            value[0] == NGSI_LD_NULL or value[0] == {"object": NGSI_LD_NULL}
        )
    return False
