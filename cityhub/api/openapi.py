"""The OpenAPI 3.1 description of what the hub serves, at ``GET /openapi.json`` (issue 20
item 7): the NGSI-LD entity, batch, type and subscription routes (ETSI GS CIM 009 clause 6,
HTTP binding), the admin API and the health check, with their parameters, bodies and every
status each may answer. ``tests/api/test_openapi.py`` fuzzes the in-process hub against it
with schemathesis (no 5xx; statuses, content types and bodies as described).

Errors are NGSI-LD ProblemDetails (RFC 9457 members, clause 5.5.4) served as
``application/json``. Not described yet: the temporal API, registrations, @contexts, the IoT
agent, the dashboard and the open data routes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api.negotiation import json_response
from cityhub.api.routing import Route

Document = dict[str, Any]
V1 = "/ngsi-ld/v1"
JSON = "application/json"
_TENANT_PATTERN = "^[A-Za-z0-9_-]{1,64}$"

#: what each status means, for the descriptions
_REASONS = {
    200: "OK",
    201: "Created",
    204: "Done, no content",
    207: "Some of the batch failed (a BatchOperationResult)",
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
}
#: the errors every route may answer: its input, access control, quotas
_COMMON_ERRORS = (400, 401, 403, 404, 429)
_BODY_ERRORS = (413, 415)


def _ref(name: str) -> Document:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Document) -> Document:
    return {JSON: {"schema": schema}}


def _responses(ok: dict[int, Document | None], errors: tuple[int, ...]) -> Document:
    out: Document = {}
    for status, schema in ok.items():
        entry: Document = {"description": _REASONS[status]}
        if schema is not None:
            entry["content"] = _json(schema)
        out[str(status)] = entry
    for status in sorted(set(errors)):
        out[str(status)] = {
            "description": _REASONS[status],
            "content": _json(_ref("ProblemDetails")),
        }
    return out


def _param(name: str, where: str, schema: Document, description: str = "") -> Document:
    param: Document = {"name": name, "in": where, "schema": schema}
    if where == "path":
        param["required"] = True
    if description:
        param["description"] = description
    return param


_TEXT = {"type": "string"}
_TENANT = _param(
    "NGSILD-Tenant",
    "header",
    {"type": "string", "pattern": _TENANT_PATTERN},
    "the tenant (clause 4.14); absent: the default tenant",
)
_LINK = _param("Link", "header", _TEXT, "the @context of a JSON body or query (clause 6.3.5)")
_ENTITY_ID = _param("entityId", "path", _TEXT, "the entity's id (a URI)")
_ATTR_ID = _param("attrId", "path", _TEXT, "the attribute's name")
_PAGING = [
    _param("limit", "query", {"type": "integer", "minimum": 0}),
    _param("offset", "query", {"type": "integer", "minimum": 0}),
    _param("count", "query", {"type": "boolean"}),
]
_SHAPE = [
    _param("attrs", "query", _TEXT, "attribute names, comma-separated"),
    _param("pick", "query", _TEXT),
    _param("omit", "query", _TEXT),
    _param("options", "query", _TEXT, "keyValues, concise, sysAttrs, ..."),
    _param("format", "query", {"enum": ["normalized", "concise", "keyValues", "simplified"]}),
    _param("lang", "query", _TEXT),
]
_SELECTION = [
    _param("id", "query", _TEXT, "entity ids, comma-separated"),
    _param("type", "query", _TEXT, "an entity type selection (clause 4.17)"),
    _param("idPattern", "query", _TEXT, "a regular expression over ids"),
    _param("q", "query", _TEXT, "an NGSI-LD query (clause 4.9)"),
    _param("scopeQ", "query", _TEXT),
    _param("georel", "query", _TEXT),
    _param("geometry", "query", _TEXT),
    _param("coordinates", "query", _TEXT),
    _param("geoproperty", "query", _TEXT),
]


def _body(schema: Document, *, required: bool = True) -> Document:
    return {
        "required": required,
        "content": {JSON: {"schema": schema}, "application/ld+json": {"schema": schema}},
    }


def _op(
    summary: str,
    ok: dict[int, Document | None],
    errors: tuple[int, ...] = _COMMON_ERRORS,
    params: list[Document] | None = None,
    body: Document | None = None,
    tenant: bool = True,
) -> Document:
    op: Document = {"summary": summary, "responses": _responses(ok, errors)}
    parameters = list(params or [])
    if tenant:
        parameters.append(_TENANT)
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    return op


def _schemas() -> Document:
    entity = {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": {"type": "string"},
            "type": {"oneOf": [{"type": "string"}, {"type": "array", "items": _TEXT}]},
            "scope": {"oneOf": [{"type": "string"}, {"type": "array", "items": _TEXT}]},
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
                "success": {"type": "array", "items": _TEXT},
                "errors": {"type": "array", "items": fragment},
            },
        },
        "Subscription": {
            "type": "object",
            "required": ["type", "notification"],
            "properties": {"id": _TEXT, "type": {"const": "Subscription"}},
            "additionalProperties": True,
        },
        "Tenant": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": _TEXT, "settings": fragment},
            "additionalProperties": True,
        },
        "Key": {
            "type": "object",
            "required": ["id", "name"],
            "properties": {"id": _TEXT, "name": _TEXT, "tenant": _TEXT, "key": _TEXT},
            "additionalProperties": True,
        },
        "Permission": {
            "type": "object",
            "required": ["action", "assignee"],
            "properties": {
                "id": _TEXT,
                "tenant": _TEXT,
                "action": {"enum": ["read", "write", "subscribe", "admin"]},
                "target": fragment,
                "assignee": {"oneOf": [_TEXT, fragment]},
            },
            "additionalProperties": True,
        },
    }


def _entity_paths() -> Document:
    entity = _ref("Entity")
    fragment = _ref("Fragment")
    read = (*_COMMON_ERRORS, 406)
    write = (*_COMMON_ERRORS, *_BODY_ERRORS)
    batch_ok: dict[int, Document | None] = {201: _TEXT_LIST, 204: None, 207: _ref("BatchResult")}
    batch_body = _body({"type": "array", "items": entity})
    return {
        f"{V1}/entities": {
            "get": _op(
                "Query entities (clause 5.7.2)",
                {200: _ref("EntityList")},
                read,
                [*_SELECTION, *_SHAPE, *_PAGING, _LINK],
            ),
            "post": _op(
                "Create an entity (clause 5.6.1)",
                {201: None},
                (*write, 409),
                [_LINK],
                _body(entity),
            ),
        },
        f"{V1}/entities/{{entityId}}": {
            "get": _op(
                "Retrieve an entity (clause 5.7.1)",
                {200: entity},
                read,
                [_ENTITY_ID, *_SHAPE, _LINK],
            ),
            "delete": _op("Delete an entity (clause 5.6.6)", {204: None}, params=[_ENTITY_ID]),
            "patch": _op(
                "Merge an entity (clause 5.6.17)",
                {204: None, 207: fragment},
                write,
                [_ENTITY_ID, _LINK],
                _body(fragment),
            ),
            "put": _op(
                "Replace an entity (clause 5.6.18)",
                {204: None},
                write,
                [_ENTITY_ID, _LINK],
                _body(entity),
            ),
        },
        f"{V1}/entities/{{entityId}}/attrs": {
            "post": _op(
                "Append attributes (clause 5.6.3)",
                {204: None, 207: fragment},
                write,
                [_ENTITY_ID, _LINK],
                _body(fragment),
            ),
            "patch": _op(
                "Update attributes (clause 5.6.2)",
                {204: None, 207: fragment},
                write,
                [_ENTITY_ID, _LINK],
                _body(fragment),
            ),
        },
        f"{V1}/entities/{{entityId}}/attrs/{{attrId}}": {
            "patch": _op(
                "Partial attribute update (clause 5.6.4)",
                {204: None},
                write,
                [_ENTITY_ID, _ATTR_ID, _LINK],
                _body(fragment),
            ),
            "delete": _op(
                "Delete an attribute (clause 5.6.5)",
                {204: None},
                params=[_ENTITY_ID, _ATTR_ID, _LINK],
            ),
        },
        f"{V1}/entityOperations/create": {
            "post": _op("Batch create (clause 5.6.7)", batch_ok, write, [_LINK], batch_body)
        },
        f"{V1}/entityOperations/upsert": {
            "post": _op("Batch upsert (clause 5.6.8)", batch_ok, write, [_LINK], batch_body)
        },
        f"{V1}/entityOperations/update": {
            "post": _op("Batch update (clause 5.6.9)", batch_ok, write, [_LINK], batch_body)
        },
        f"{V1}/entityOperations/delete": {
            "post": _op(
                "Batch delete (clause 5.6.10)",
                batch_ok,
                write,
                [_LINK],
                _body({"type": "array", "items": _TEXT}),
            )
        },
        f"{V1}/entityOperations/query": {
            "post": _op(
                "Query entities, the query in the body (clause 5.7.2)",
                {200: _ref("EntityList")},
                (*read, *_BODY_ERRORS),
                [*_PAGING, _LINK],
                _body(fragment),
            )
        },
        f"{V1}/types": {
            "get": _op(
                "Entity types (clause 5.7.5)",
                {200: {"oneOf": [fragment, {"type": "array"}]}},
                read,
                [_param("details", "query", {"type": "boolean"}), _LINK],
            )
        },
        f"{V1}/attributes": {
            "get": _op(
                "Attributes (clause 5.7.8)",
                {200: {"oneOf": [fragment, {"type": "array"}]}},
                read,
                [_param("details", "query", {"type": "boolean"}), _LINK],
            )
        },
        f"{V1}/subscriptions": {
            "get": _op(
                "Query subscriptions (clause 5.8.4)",
                {200: {"type": "array", "items": _ref("Subscription")}},
                read,
                [*_PAGING, _LINK],
            ),
            "post": _op(
                "Create a subscription (clause 5.8.1)",
                {201: None},
                (*write, 409),
                [_LINK],
                _body(_ref("Subscription")),
            ),
        },
    }


_TEXT_LIST = {"type": "array", "items": _TEXT}


def _admin_paths() -> Document:
    errors = (400, 401, 403, 404)
    body_errors = (*errors, *_BODY_ERRORS, 409)
    name = _param("name", "path", {"type": "string", "pattern": _TENANT_PATTERN})
    key_id = _param("keyId", "path", _TEXT)
    tenant_q = _param("tenant", "query", {"type": "string", "pattern": _TENANT_PATTERN})
    fragment = _ref("Fragment")

    def op(
        summary: str,
        ok: dict[int, Document | None],
        errors: tuple[int, ...],
        params: list[Document] | None = None,
        body: Document | None = None,
    ) -> Document:
        return _op(summary, ok, errors, params, body, tenant=False)

    return {
        "/admin/tenants": {
            "get": op("Managed tenants", {200: {"type": "array", "items": _ref("Tenant")}}, errors),
            "post": op(
                "Create a tenant", {201: _ref("Tenant")}, body_errors, body=_body(_ref("Tenant"))
            ),
        },
        "/admin/tenants/{name}": {
            "get": op("Describe a tenant", {200: _ref("Tenant")}, errors, [name]),
            "patch": op(
                "Change a tenant's settings",
                {200: _ref("Tenant")},
                body_errors,
                [name],
                body=_body(fragment),
            ),
            "delete": op("Delete a tenant", {204: None}, errors, [name]),
        },
        "/admin/keys": {
            "get": op(
                "API keys (never their secrets)",
                {200: {"type": "array", "items": _ref("Key")}},
                errors,
                [tenant_q],
            ),
            "post": op(
                "Create an API key (its secret shown once)",
                {201: _ref("Key")},
                body_errors,
                body=_body(fragment),
            ),
        },
        "/admin/keys/{keyId}": {
            "get": op("Describe a key", {200: _ref("Key")}, errors, [key_id]),
            "delete": op("Revoke a key", {204: None}, errors, [key_id]),
        },
        "/admin/permissions": {
            "get": op(
                "A tenant's permissions",
                {200: {"type": "array", "items": _ref("Permission")}},
                errors,
                [tenant_q],
            ),
            "post": op(
                "Grant a permission",
                {201: _ref("Permission")},
                body_errors,
                body=_body(_ref("Permission")),
            ),
        },
        "/admin/permissions/{permissionId}": {
            "delete": op(
                "Withdraw a permission",
                {204: None},
                errors,
                [_param("permissionId", "path", _TEXT), tenant_q],
            )
        },
        "/admin/audit": {
            "get": op(
                "The audit log, oldest first",
                {200: {"type": "array", "items": fragment}},
                errors,
                [
                    tenant_q,
                    _param("after", "query", {"type": "integer", "minimum": 0}),
                    _param("limit", "query", {"type": "integer", "minimum": 1}),
                ],
            )
        },
    }


def openapi_document() -> Document:
    """The hub's OpenAPI 3.1 description (see the module's docstring)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cityhub",
            "version": __version__,
            "description": (
                "An NGSI-LD context broker (ETSI GS CIM 009) and smart-city data hub. "
                "Credentials: Authorization: Bearer <API key or OIDC token> (docs/access.md)."
            ),
        },
        "paths": {
            "/health": {
                "get": _op(
                    "Liveness and the store's health",
                    {200: {"type": "object"}},
                    (),
                    tenant=False,
                )
            },
            **_entity_paths(),
            **_admin_paths(),
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


async def serve_openapi(request: Request) -> Response:
    """``GET /openapi.json``."""
    return json_response(openapi_document())


routes: list[Route] = [Route("/openapi.json", serve_openapi, methods=["GET"])]

__all__ = ["openapi_document", "routes"]
