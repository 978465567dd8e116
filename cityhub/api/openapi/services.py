"""The paths outside the NGSI-LD API: the admin API (access control, publishing rules), the
IoT agent (provisioning and its HTTP transports), the city services' indicators, the open
data routes (OGC API - Features, exports, the DCAT catalogue, the data.go.kr-style API, the
portal page), the dashboard and its feed, and the health checks."""

from __future__ import annotations

from collections.abc import Mapping

from cityhub.api.openapi.parts import (
    ANY,
    BODY_ERRORS,
    COMMON_ERRORS,
    CSV,
    GEOJSON,
    HTML,
    JSON,
    JSONLD,
    OBJECT,
    TENANT_PATTERN,
    TEXT,
    Document,
    Media,
    body,
    op,
    param,
    ref,
)

_FRAGMENT = ref("Fragment")
_ADMIN_ERRORS = (400, 401, 403, 404)
_ADMIN_BODY_ERRORS = (*_ADMIN_ERRORS, *BODY_ERRORS, 409)
_TENANT_Q = param("tenant", "query", {"type": "string", "pattern": TENANT_PATTERN})


def _plain(
    summary: str,
    ok: Mapping[int, Document | Media | None],
    errors: tuple[int, ...],
    params: list[Document] | None = None,
    request_body: Document | None = None,
) -> Document:
    """An operation outside NGSI-LD: no NGSILD-Tenant header unless ``params`` names it."""
    return op(summary, ok, errors, params, request_body, tenant=False)


def admin_paths() -> Document:
    """``/admin/...``: tenants, keys, permissions, the audit log (docs/access.md) and the
    open data publishing rules (docs/opendata.md)."""
    name = param("name", "path", {"type": "string", "pattern": TENANT_PATTERN})
    key_id = param("keyId", "path", TEXT)
    rule = ref("PublishingRule")
    rule_type = param("type", "path", TEXT, "an entity type (a term of the core @context or IRI)")
    return {
        "/admin/tenants": {
            "get": _plain(
                "Managed tenants", {200: {"type": "array", "items": ref("Tenant")}}, _ADMIN_ERRORS
            ),
            "post": _plain(
                "Create a tenant",
                {201: ref("Tenant")},
                _ADMIN_BODY_ERRORS,
                request_body=body(ref("Tenant")),
            ),
        },
        "/admin/tenants/{name}": {
            "get": _plain("Describe a tenant", {200: ref("Tenant")}, _ADMIN_ERRORS, [name]),
            "patch": _plain(
                "Change a tenant's settings",
                {200: ref("Tenant")},
                _ADMIN_BODY_ERRORS,
                [name],
                body(_FRAGMENT),
            ),
            "delete": _plain("Delete a tenant", {204: None}, _ADMIN_ERRORS, [name]),
        },
        "/admin/keys": {
            "get": _plain(
                "API keys (never their secrets)",
                {200: {"type": "array", "items": ref("Key")}},
                _ADMIN_ERRORS,
                [_TENANT_Q],
            ),
            "post": _plain(
                "Create an API key (its secret shown once)",
                {201: ref("Key")},
                _ADMIN_BODY_ERRORS,
                request_body=body(_FRAGMENT),
            ),
        },
        "/admin/keys/{keyId}": {
            "get": _plain("Describe a key", {200: ref("Key")}, _ADMIN_ERRORS, [key_id]),
            "delete": _plain("Revoke a key", {204: None}, _ADMIN_ERRORS, [key_id]),
        },
        "/admin/permissions": {
            "get": _plain(
                "A tenant's permissions",
                {200: {"type": "array", "items": ref("Permission")}},
                _ADMIN_ERRORS,
                [_TENANT_Q],
            ),
            "post": _plain(
                "Grant a permission",
                {201: ref("Permission")},
                _ADMIN_BODY_ERRORS,
                request_body=body(ref("Permission")),
            ),
        },
        "/admin/permissions/{permissionId}": {
            "delete": _plain(
                "Withdraw a permission",
                {204: None},
                _ADMIN_ERRORS,
                [param("permissionId", "path", TEXT), _TENANT_Q],
            )
        },
        "/admin/audit": {
            "get": _plain(
                "The audit log, oldest first",
                {200: {"type": "array", "items": _FRAGMENT}},
                _ADMIN_ERRORS,
                [
                    _TENANT_Q,
                    param("after", "query", {"type": "integer", "minimum": 0}),
                    param("limit", "query", {"type": "integer", "minimum": 1}),
                ],
            )
        },
        "/admin/publishing": {
            "get": _plain(
                "Publishing rules (of one tenant, or of every tenant)",
                {200: {"type": "array", "items": _FRAGMENT}},
                _ADMIN_ERRORS,
                [_TENANT_Q],
            )
        },
        "/admin/publishing/{type}": {
            "get": _plain(
                "A type's publishing rule", {200: _FRAGMENT}, _ADMIN_ERRORS, [rule_type, _TENANT_Q]
            ),
            "put": _plain(
                "Publish a type as open data (create or replace its rule)",
                {200: _FRAGMENT, 201: _FRAGMENT},
                (*_ADMIN_ERRORS, *BODY_ERRORS),
                [rule_type, _TENANT_Q],
                body(rule),
            ),
            "delete": _plain(
                "Stop publishing a type", {204: None}, _ADMIN_ERRORS, [rule_type, _TENANT_Q]
            ),
        },
    }


def iot_paths() -> Document:
    """``/iot/...``: the IoT agent's provisioning API (FIWARE iotagent-node-lib's) and its
    HTTP transports (UltraLight 2.0 and JSON measures, command results; docs/iot.md)."""
    service = param("Fiware-Service", "header", {"type": "string"}, "the tenant")
    path = param("Fiware-ServicePath", "header", {"type": "string"})
    headers = [service, path]
    paging = [
        param("limit", "query", {"type": "integer", "minimum": 0}),
        param("offset", "query", {"type": "integer", "minimum": 0}),
    ]
    group_key = [
        param("resource", "query", TEXT, required=True),
        param("apikey", "query", TEXT, required=True),
    ]
    errors = COMMON_ERRORS
    write = (*COMMON_ERRORS, *BODY_ERRORS, 409)
    device_id = param("deviceId", "path", TEXT)
    created = {201: OBJECT}
    out: Document = {}
    for base, member in (("/iot/groups", "groups"), ("/iot/services", "services")):
        out[base] = {
            "get": _plain(
                f"Config groups ({member})", {200: ref("Counted")}, errors, [*paging, *headers]
            ),
            "post": _plain(
                "Provision config groups",
                created,
                write,
                headers,
                body({"type": "object", "required": [member]}),
            ),
            "put": _plain(
                "Update a config group",
                {204: None},
                write,
                [*group_key, *headers],
                body(_FRAGMENT),
            ),
            "delete": _plain("Delete a config group", {204: None}, errors, [*group_key, *headers]),
        }
    measure_key = [param("k", "query", TEXT, "the apikey"), param("i", "query", TEXT, "device")]
    polled = {200: Media({JSON: OBJECT, "text/plain": None})}
    measure_errors = (*COMMON_ERRORS, 413, 415)
    return {
        **out,
        "/iot/devices": {
            "get": _plain("Devices", {200: ref("Counted")}, errors, [*paging, *headers]),
            "post": _plain(
                "Provision devices",
                created,
                write,
                headers,
                body({"type": "object", "required": ["devices"]}),
            ),
        },
        "/iot/devices/{deviceId}": {
            "get": _plain("A device", {200: _FRAGMENT}, errors, [device_id, *headers]),
            "put": _plain(
                "Update a device", {204: None}, write, [device_id, *headers], body(_FRAGMENT)
            ),
            "delete": _plain("Delete a device", {204: None}, errors, [device_id, *headers]),
        },
        "/iot/op/delete": {
            "post": _plain(
                "Delete devices",
                {204: None},
                write,
                headers,
                body({"type": "object", "required": ["devices"]}),
            )
        },
        "/iot/about": {"get": _plain("The agent's version and state", {200: OBJECT}, errors)},
        "/iot/errors": {
            "get": _plain("Refused payloads, counted per device", {200: ref("Counted")}, errors)
        },
        "/iot/d": {
            "get": _plain(
                "UltraLight 2.0 measures in the URL (d=...), or a command poll (getCmd=1)",
                polled,
                measure_errors,
                [
                    *measure_key,
                    param("d", "query", TEXT),
                    param("t", "query", TEXT),
                    param("getCmd", "query", TEXT),
                ],
            ),
            "post": _plain(
                "UltraLight 2.0 measures (t|15|h|70)",
                polled,
                measure_errors,
                [*measure_key, param("t", "query", TEXT), param("getCmd", "query", TEXT)],
                {"content": {"text/plain": {"schema": TEXT}}},
            ),
        },
        "/iot/json": {
            "get": _plain(
                "A command poll (getCmd=1)",
                polled,
                measure_errors,
                [*measure_key, param("getCmd", "query", TEXT)],
            ),
            "post": _plain(
                "JSON measures (an object, or an array of them)",
                polled,
                measure_errors,
                [*measure_key, param("t", "query", TEXT), param("getCmd", "query", TEXT)],
                {"content": {JSON: {"schema": ANY}}},
            ),
        },
        **{
            f"{base}/commands": {
                "post": _plain(
                    "A device's command results",
                    {200: None},
                    measure_errors,
                    measure_key,
                    {"content": {JSON: {"schema": ANY}, "text/plain": {"schema": TEXT}}},
                )
            }
            for base in ("/iot/json", "/iot/d")
        },
    }


def service_paths() -> Document:
    """The city services' own routes (docs/indicators.md): the indicators' catalogue and a
    zone gap report. Alerts and air quality are NGSI-LD entities the entity routes serve."""
    return {
        "/indicators": {
            "get": _plain("The district indicators computed", {200: OBJECT}, COMMON_ERRORS)
        },
        "/indicators/gap": {
            "get": op(
                "One indicator compared between zones of districts",
                {200: Media({JSON: OBJECT, CSV: None})},
                COMMON_ERRORS,
                [
                    param("indicator", "query", TEXT, required=True),
                    param("frequency", "query", {"enum": ["daily", "hourly"]}),
                    param("date", "query", TEXT, "YYYY-MM-DD"),
                    param("level", "query", TEXT),
                    param("reference", "query", TEXT),
                    param("format", "query", {"enum": ["json", "csv"]}),
                ],
            )
        },
    }


def opendata_paths() -> Document:
    """Open data (docs/opendata.md): what publishing rules make public, read by anyone."""
    errors = COMMON_ERRORS
    f = param("f", "query", {"enum": ["json", "html"]})
    page = Media({JSON: OBJECT, HTML: None})
    collection = param("collectionId", "path", TEXT)
    ogc = "application/vnd.oai.openapi+json;version=3.0"
    catalog_params = [
        param("modified_since", "query", TEXT, "a date, or a date-time with its zone"),
        param("page", "query", {"type": "integer", "minimum": 1}),
        param("pageSize", "query", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ]
    district = param("district", "query", TEXT, "an AdministrativeArea's id")
    govkr = Media({"application/xml": None, JSON: OBJECT})
    return {
        "/ogcapi": {"get": op("OGC API - Features: landing page", {200: page}, errors, [f])},
        "/ogcapi/": {"get": op("OGC API - Features: landing page", {200: page}, errors, [f])},
        "/ogcapi/conformance": {"get": op("Conformance classes", {200: page}, errors, [f])},
        "/ogcapi/api": {
            "get": op(
                "The OGC API's own definition",
                {200: Media({ogc: OBJECT, HTML: None})},
                errors,
                [f],
            )
        },
        "/ogcapi/collections": {"get": op("Published collections", {200: page}, errors, [f])},
        "/ogcapi/collections/{collectionId}": {
            "get": op("A collection", {200: page}, errors, [collection, f])
        },
        "/ogcapi/collections/{collectionId}/items": {
            "get": op(
                "A collection's features",
                {200: Media({GEOJSON: ref("FeatureCollection"), HTML: None})},
                errors,
                [
                    collection,
                    f,
                    param("limit", "query", {"type": "integer", "minimum": 1}),
                    param("offset", "query", {"type": "integer", "minimum": 0}),
                    param("bbox", "query", TEXT),
                    param("datetime", "query", TEXT),
                ],
            )
        },
        "/ogcapi/collections/{collectionId}/items/{featureId}": {
            "get": op(
                "A feature",
                {200: Media({GEOJSON: ref("Feature"), HTML: None})},
                errors,
                [collection, param("featureId", "path", TEXT), f],
            )
        },
        "/opendata/{file}": {
            "get": op(
                "A published type's current state: <collection>.csv, .geojson or .parquet",
                {200: Media({CSV: None, GEOJSON: None, "application/vnd.apache.parquet": None})},
                errors,
                [param("file", "path", TEXT), district],
            )
        },
        "/opendata/{collectionId}/history/{file}": {
            "get": op(
                "A UTC day of a published type's history: YYYY-MM-DD.csv or .parquet",
                {200: Media({CSV: None, "application/vnd.apache.parquet": None})},
                errors,
                [collection, param("file", "path", TEXT), district],
            )
        },
        "/catalog.jsonld": {
            "get": op("The DCAT-AP catalogue", {200: Media({JSONLD: ANY})}, errors, catalog_params)
        },
        "/catalog.ttl": {
            "get": op(
                "The DCAT-AP catalogue (Turtle)",
                {200: Media({"text/turtle": None})},
                errors,
                catalog_params,
            )
        },
        "/catalog.rdf": {
            "get": op(
                "The DCAT-AP catalogue (RDF/XML)",
                {200: Media({"application/rdf+xml": None})},
                errors,
                catalog_params,
            )
        },
        "/data/api/{type}": {
            "get": op(
                "data.go.kr-style items of a published type (errors in its own shape)",
                {status: govkr for status in (200, 400, 401, 403, 404, 429)},
                (),
                [
                    param("type", "path", TEXT),
                    param("serviceKey", "query", TEXT),
                    param("pageNo", "query", {"type": "integer", "minimum": 1}),
                    param("numOfRows", "query", {"type": "integer", "minimum": 1}),
                    param("resultType", "query", {"enum": ["xml", "json"]}),
                ],
            )
        },
        "/data": {
            "get": op(
                "The open data portal page",
                {200: Media({HTML: None})},
                errors,
                [param("lang", "query", {"enum": ["ko", "en"]})],
            )
        },
    }


def hub_paths() -> Document:
    """The hub's root (the dashboard, or a JSON home document), the dashboard's files and
    live feed, and the health checks."""
    return {
        "/": {
            "get": _plain(
                "The dashboard (Accept: text/html), else a JSON home document",
                {200: Media({JSON: OBJECT, HTML: None}), 304: None},
                (),
            )
        },
        "/dashboard/static": {
            "get": _plain("The dashboard's files (the folder itself: 404)", {}, (404,))
        },
        "/dashboard/static/{path}": {
            "get": _plain(
                "A dashboard file",
                {200: Media({"*/*": None}), 304: None},
                (404,),
                [param("path", "path", TEXT), param("v", "query", TEXT)],
            )
        },
        "/dashboard/feed": {
            "get": _plain(
                "The live feed of changes a screen may read (Server-Sent Events, endless)",
                {200: Media({"text/event-stream": None})},
                (400, 401, 403, 404, 429, 503),
                [param("tenant", "query", {"type": "string", "pattern": TENANT_PATTERN})],
            )
        },
        "/health": {
            "get": _plain(
                "Readiness: can the store serve?",
                {200: OBJECT, 503: OBJECT},
                (),
            )
        },
        "/health/live": {"get": _plain("Liveness", {200: OBJECT}, ())},
    }


__all__ = ["admin_paths", "hub_paths", "iot_paths", "opendata_paths", "service_paths"]
