"""The pieces the OpenAPI description is built from: parameters, bodies, responses and the
shared schemas (``cityhub.api.openapi``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Document = dict[str, Any]
V1 = "/ngsi-ld/v1"
JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
HTML = "text/html"
CSV = "text/csv"
TENANT_PATTERN = "^[A-Za-z0-9_-]{1,64}$"

#: what each status means, for the descriptions
REASONS = {
    200: "OK",
    201: "Created",
    204: "Done, no content",
    206: "Partial content: more instances than one answer holds (Content-Range)",
    207: "Some of the batch failed (a BatchOperationResult)",
    304: "Not modified (ETag)",
    400: "BadRequestData or InvalidRequest",
    401: "No valid credentials (access control)",
    403: "Forbidden, TooManyResults or TooComplexQuery",
    404: "ResourceNotFound or NonexistentTenant",
    405: "Method not allowed",
    406: "NotAcceptable",
    409: "AlreadyExists",
    413: "The body is too large",
    415: "UnsupportedMediaType",
    422: "OperationNotSupported",
    429: "TooManyRequests (quotas)",
    503: "The store cannot serve now (Retry-After)",
}
#: the errors every route may answer: its input, access control, quotas
COMMON_ERRORS = (400, 401, 403, 404, 429)
BODY_ERRORS = (413, 415)
TEXT: Document = {"type": "string"}
TEXT_LIST: Document = {"type": "array", "items": TEXT}
OBJECT: Document = {"type": "object"}
ANY: Document = {}


@dataclass(frozen=True)
class Media:
    """An answer's body in one or more media types: ``Media({JSON: schema, CSV: None})``
    (None: no schema to check, e.g. text or binary)."""

    types: dict[str, Document | None]


def ref(name: str) -> Document:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(body: Document | Media) -> Document:
    if isinstance(body, Media):
        return {m: ({"schema": s} if s is not None else {}) for m, s in body.types.items()}
    return {JSON: {"schema": body}}


def responses(ok: Mapping[int, Document | Media | None], errors: tuple[int, ...]) -> Document:
    out: Document = {}
    for status, body in ok.items():
        entry: Document = {"description": REASONS[status]}
        if body is not None:
            entry["content"] = _content(body)
        out[str(status)] = entry
    for status in sorted(set(errors)):
        out[str(status)] = {
            "description": REASONS[status],
            "content": {JSON: {"schema": ref("ProblemDetails")}},
        }
    return out


def param(
    name: str, where: str, schema: Document, description: str = "", *, required: bool = False
) -> Document:
    out: Document = {"name": name, "in": where, "schema": schema}
    if where == "path" or required:
        out["required"] = True
    if description:
        out["description"] = description
    return out


TENANT = param(
    "NGSILD-Tenant",
    "header",
    {"type": "string", "pattern": TENANT_PATTERN},
    "the tenant (clause 4.14); absent: the default tenant",
)
LINK = param("Link", "header", TEXT, "the @context of a JSON body or query (clause 6.3.5)")
ENTITY_ID = param("entityId", "path", TEXT, "the entity's id (a URI)")
ATTR_ID = param("attrId", "path", TEXT, "the attribute's name")
PAGING = [
    param("limit", "query", {"type": "integer", "minimum": 0}),
    param("offset", "query", {"type": "integer", "minimum": 0}),
    param("count", "query", {"type": "boolean"}),
]
SHAPE = [
    param("attrs", "query", TEXT, "attribute names, comma-separated"),
    param("pick", "query", TEXT),
    param("omit", "query", TEXT),
    param("options", "query", TEXT, "keyValues, concise, sysAttrs, ..."),
    param("format", "query", {"enum": ["normalized", "concise", "keyValues", "simplified"]}),
    param("lang", "query", TEXT),
]
SELECTION = [
    param("id", "query", TEXT, "entity ids, comma-separated"),
    param("type", "query", TEXT, "an entity type selection (clause 4.17)"),
    param("idPattern", "query", TEXT, "a regular expression over ids"),
    param("q", "query", TEXT, "an NGSI-LD query (clause 4.9)"),
    param("scopeQ", "query", TEXT),
    param("georel", "query", TEXT),
    param("geometry", "query", TEXT),
    param("coordinates", "query", TEXT),
    param("geoproperty", "query", TEXT),
]
TEMPORAL = [
    param("timerel", "query", {"enum": ["before", "after", "between"]}),
    param("timeAt", "query", TEXT, "a date-time"),
    param("endTimeAt", "query", TEXT, "a date-time (timerel=between)"),
    param("timeproperty", "query", TEXT, "observedAt (default), createdAt, modifiedAt, ..."),
    param("lastN", "query", {"type": "integer", "minimum": 1}),
    param("aggrMethods", "query", TEXT, "totalCount, sum, avg, min, max, ... (aggregatedValues)"),
    param("aggrPeriodDuration", "query", TEXT, "an ISO 8601 duration such as PT1H"),
    param("datasetId", "query", TEXT),
]


def body(schema: Document, *, required: bool = True) -> Document:
    return {
        "required": required,
        "content": {JSON: {"schema": schema}, JSONLD: {"schema": schema}},
    }


def op(
    summary: str,
    ok: Mapping[int, Document | Media | None],
    errors: tuple[int, ...] = COMMON_ERRORS,
    params: list[Document] | None = None,
    request_body: Document | None = None,
    tenant: bool = True,
) -> Document:
    out: Document = {"summary": summary, "responses": responses(ok, errors)}
    parameters = list(params or [])
    if tenant:
        parameters.append(TENANT)
    if parameters:
        out["parameters"] = parameters
    if request_body is not None:
        out["requestBody"] = request_body
    return out


def schemas() -> Document:
    """``components.schemas``: loose where NGSI-LD allows many shapes, exact where the hub
    promises a member (an entity's id and type, a ProblemDetails' type and title)."""
    entity = {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": {"type": "string"},
            "type": {"oneOf": [{"type": "string"}, {"type": "array", "items": TEXT}]},
            "scope": {"oneOf": [{"type": "string"}, {"type": "array", "items": TEXT}]},
        },
        "additionalProperties": True,
    }
    fragment = {"type": "object", "additionalProperties": True}
    return {
        "ProblemDetails": {
            "type": "object",
            "required": ["type", "title"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
            },
        },
        "Entity": entity,
        "EntityList": {"type": "array", "items": entity},
        "Fragment": fragment,
        "BatchResult": {
            "type": "object",
            "required": ["success", "errors"],
            "properties": {
                "success": {"type": "array", "items": TEXT},
                "errors": {"type": "array", "items": fragment},
            },
        },
        "Subscription": {
            "type": "object",
            "required": ["type", "notification"],
            "properties": {"id": TEXT, "type": {"const": "Subscription"}},
            "additionalProperties": True,
        },
        "CSourceRegistration": {
            "type": "object",
            "required": ["type", "information", "endpoint"],
            "properties": {
                "id": TEXT,
                "type": {"const": "ContextSourceRegistration"},
                "information": {"type": "array", "items": fragment},
                "endpoint": TEXT,
            },
            "additionalProperties": True,
        },
        "EntityMap": {
            "type": "object",
            "required": ["id", "type", "expiresAt", "entityMap", "linkedMaps"],
            "properties": {
                "id": TEXT,
                "type": {"const": "EntityMap"},
                "expiresAt": TEXT,
                "entityMap": {"type": "object", "additionalProperties": TEXT_LIST},
                "linkedMaps": {"type": "object", "additionalProperties": TEXT},
            },
            "additionalProperties": True,
        },
        "ContextSourceIdentity": {
            "type": "object",
            "required": ["id", "type", "contextSourceAlias", "contextSourceUptime"],
            "properties": {
                "id": TEXT,
                "type": {"const": "ContextSourceIdentity"},
                "contextSourceAlias": TEXT,
                "contextSourceUptime": TEXT,
                "contextSourceTimeAt": TEXT,
            },
            "additionalProperties": True,
        },
        "CSourceSubscription": {
            "type": "object",
            "required": ["type", "notification"],
            "properties": {"id": TEXT, "type": {"const": "Subscription"}},
            "additionalProperties": True,
        },
        "Tenant": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": TEXT,
                "settings": fragment,
                "createdAt": TEXT,
                "keys": {"type": "integer", "minimum": 0, "description": "how many"},
                "permissions": {"type": "integer", "minimum": 0, "description": "how many"},
            },
            "additionalProperties": False,
        },
        "Key": {
            "type": "object",
            "required": ["keyId", "prefix", "name", "tenant", "admin", "createdAt"],
            "properties": {
                "keyId": TEXT,
                "prefix": TEXT,
                "name": TEXT,
                "tenant": TEXT,
                "admin": {"type": "boolean"},
                "createdAt": TEXT,
                "expiresAt": TEXT,
                "revokedAt": TEXT,
                "key": {
                    "type": "string",
                    "description": "the secret, in the creation's answer only",
                },
            },
            "additionalProperties": False,
        },
        "Permission": {
            "type": "object",
            "required": ["action", "assignee"],
            "properties": {
                "id": TEXT,
                "tenant": TEXT,
                "action": {"enum": ["read", "write", "subscribe", "admin"]},
                "target": fragment,
                "assignee": {"oneOf": [TEXT, fragment]},
            },
            "additionalProperties": True,
        },
        "PublishingRule": {
            "type": "object",
            "properties": {
                "attributes": {"type": "array", "items": TEXT},
                "license": TEXT,
                "attribution": TEXT,
                "history": {"type": "boolean"},
                "title": TEXT,
                "description": TEXT,
                "keywords": {"type": "array", "items": TEXT},
                "datetimeAttribute": TEXT,
            },
        },
        "Counted": {
            "type": "object",
            "required": ["count"],
            "properties": {"count": {"type": "integer", "minimum": 0}},
            "additionalProperties": True,
        },
        "FeatureCollection": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": fragment},
            },
            "additionalProperties": True,
        },
        "Feature": {
            "type": "object",
            "required": ["type", "id"],
            "properties": {"type": {"const": "Feature"}},
            "additionalProperties": True,
        },
    }


__all__ = [
    "ANY",
    "ATTR_ID",
    "BODY_ERRORS",
    "COMMON_ERRORS",
    "CSV",
    "ENTITY_ID",
    "GEOJSON",
    "HTML",
    "JSON",
    "JSONLD",
    "LINK",
    "OBJECT",
    "PAGING",
    "REASONS",
    "SELECTION",
    "SHAPE",
    "TEMPORAL",
    "TENANT",
    "TENANT_PATTERN",
    "TEXT",
    "TEXT_LIST",
    "V1",
    "Document",
    "Media",
    "body",
    "op",
    "param",
    "ref",
    "responses",
    "schemas",
]
