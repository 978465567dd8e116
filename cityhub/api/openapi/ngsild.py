"""The NGSI-LD API's paths (ETSI GS CIM 009 clause 6, HTTP binding): entities, batch
operations, types and attributes, subscriptions, the temporal API, context source
registrations and their subscriptions, hosted @contexts and the API's root."""

from __future__ import annotations

from cityhub.api.openapi.parts import (
    ATTR_ID,
    BODY_ERRORS,
    COMMON_ERRORS,
    ENTITY_ID,
    JSON,
    JSONLD,
    LINK,
    OBJECT,
    PAGING,
    SELECTION,
    SHAPE,
    TEMPORAL,
    TEXT,
    TEXT_LIST,
    V1,
    Document,
    Media,
    body,
    op,
    param,
    ref,
)

_READ = (*COMMON_ERRORS, 406)
_WRITE = (*COMMON_ERRORS, *BODY_ERRORS)
_FRAGMENT = ref("Fragment")
_MERGE_PATCH = "application/merge-patch+json"
LOCAL = param("local", "query", {"type": "boolean"})
#: a paged query's EntityMap (clause 5.5.14, Table 6.4.3.2-1)
ENTITY_MAP = [
    param("entityMap", "query", {"type": "boolean"}, "answer the location of an EntityMap"),
    param("entityMapLifetime", "query", TEXT, "an ISO 8601 duration such as PT1H"),
    param("NGSILD-EntityMap", "header", TEXT, "the EntityMap this page keeps to"),
]


def _patch_body(schema: Document) -> Document:
    out = body(schema)
    out["content"][_MERGE_PATCH] = {"schema": schema}
    return out


def entity_paths() -> Document:
    """Clauses 5.6 and 5.7: entities, batch operations, types and attributes."""
    entity = ref("Entity")
    batch_ok: dict[int, Document | Media | None] = {
        201: TEXT_LIST,
        204: None,
        207: ref("BatchResult"),
    }
    batch_body = body({"type": "array", "items": entity})
    summary = {200: {"oneOf": [_FRAGMENT, {"type": "array"}]}}
    details = param("details", "query", {"type": "boolean"})
    return {
        f"{V1}/entities": {
            "get": op(
                "Query entities (clause 5.7.2); 201 when an EntityMap was (re)created",
                {200: ref("EntityList"), 201: ref("EntityList")},
                _READ,
                [*SELECTION, *SHAPE, *PAGING, *ENTITY_MAP, LOCAL, LINK],
            ),
            "post": op(
                "Create an entity (clause 5.6.1)",
                {201: None},
                (*_WRITE, 409),
                [LINK],
                body(entity),
            ),
            "delete": op(
                "Purge entities (clause 5.6.21): those the selection names",
                {204: None},
                COMMON_ERRORS,
                [
                    *SELECTION,
                    param("keep", "query", TEXT, "attribute names to keep"),
                    param("drop", "query", TEXT, "attribute names to drop"),
                    param("local", "query", {"type": "boolean"}),
                    LINK,
                ],
            ),
            "patch": op("Refused: name the entity (/entities/{entityId})", {}, (400,)),
            "put": op("Refused: name the entity (/entities/{entityId})", {}, (400,)),
        },
        f"{V1}/entities/{{entityId}}": {
            "get": op(
                "Retrieve an entity (clause 5.7.1)",
                {200: entity},
                _READ,
                [ENTITY_ID, *SHAPE, param("local", "query", {"type": "boolean"}), LINK],
            ),
            "delete": op("Delete an entity (clause 5.6.6)", {204: None}, params=[ENTITY_ID]),
            "patch": op(
                "Merge an entity (clause 5.6.17)",
                {204: None, 207: _FRAGMENT},
                _WRITE,
                [ENTITY_ID, LINK],
                body(_FRAGMENT),
            ),
            "put": op(
                "Replace an entity (clause 5.6.18)",
                {204: None},
                _WRITE,
                [ENTITY_ID, LINK],
                body(entity),
            ),
        },
        f"{V1}/entities/{{entityId}}/attrs": {
            "post": op(
                "Append attributes (clause 5.6.3)",
                {204: None, 207: _FRAGMENT},
                _WRITE,
                [ENTITY_ID, LINK],
                body(_FRAGMENT),
            ),
            "patch": op(
                "Update attributes (clause 5.6.2)",
                {204: None, 207: _FRAGMENT},
                _WRITE,
                [ENTITY_ID, LINK],
                body(_FRAGMENT),
            ),
        },
        f"{V1}/entities/{{entityId}}/attrs/{{attrId}}": {
            "patch": op(
                "Partial attribute update (clause 5.6.4)",
                {204: None},
                _WRITE,
                [ENTITY_ID, ATTR_ID, LINK],
                body(_FRAGMENT),
            ),
            "put": op(
                "Replace an attribute (clause 5.6.19)",
                {204: None},
                _WRITE,
                [ENTITY_ID, ATTR_ID, LINK],
                body(_FRAGMENT),
            ),
            "delete": op(
                "Delete an attribute (clause 5.6.5)",
                {204: None},
                params=[ENTITY_ID, ATTR_ID, LINK],
            ),
        },
        **{
            f"{V1}/entityOperations/{name}": {
                "post": op(f"Batch {name} (clause {clause})", batch_ok, _WRITE, [LINK], batch_body)
            }
            for name, clause in (
                ("create", "5.6.7"),
                ("upsert", "5.6.8"),
                ("update", "5.6.9"),
                ("merge", "5.6.20"),
            )
        },
        f"{V1}/entityOperations/delete": {
            "post": op(
                "Batch delete (clause 5.6.10)",
                batch_ok,
                _WRITE,
                [LINK],
                body({"type": "array", "items": TEXT}),
            )
        },
        f"{V1}/entityOperations/query": {
            "post": op(
                "Query entities, the query in the body (clause 5.7.2)",
                {200: ref("EntityList")},
                (*_READ, *BODY_ERRORS),
                [*PAGING, LINK],
                body(_FRAGMENT),
            )
        },
        f"{V1}/types": {
            "get": op("Entity types (clause 5.7.5-5.7.6)", summary, _READ, [details, LINK])
        },
        f"{V1}/types/{{type}}": {
            "get": op(
                "One entity type's details (clause 5.7.7)",
                {200: _FRAGMENT},
                _READ,
                [param("type", "path", TEXT), LINK],
            )
        },
        f"{V1}/attributes": {
            "get": op("Attributes (clause 5.7.8-5.7.9)", summary, _READ, [details, LINK])
        },
        f"{V1}/attributes/{{attrId}}": {
            "get": op(
                "One attribute's details (clause 5.7.10)",
                {200: _FRAGMENT},
                _READ,
                [ATTR_ID, LINK],
            )
        },
    }


def subscription_paths() -> Document:
    """Clause 5.8: subscriptions."""
    sub_id = param("subscriptionId", "path", TEXT)
    return {
        f"{V1}/subscriptions": {
            "get": op(
                "Query subscriptions (clause 5.8.4)",
                {200: {"type": "array", "items": ref("Subscription")}},
                _READ,
                [*PAGING, LINK],
            ),
            "post": op(
                "Create a subscription (clause 5.8.1)",
                {201: None},
                (*_WRITE, 409),
                [LINK],
                body(ref("Subscription")),
            ),
        },
        f"{V1}/subscriptions/{{subscriptionId}}": {
            "get": op(
                "Retrieve a subscription (clause 5.8.3)",
                {200: ref("Subscription")},
                _READ,
                [sub_id, LINK],
            ),
            "patch": op(
                "Update a subscription (clause 5.8.2)",
                {204: None},
                _WRITE,
                [sub_id, LINK],
                _patch_body(_FRAGMENT),
            ),
            "delete": op("Delete a subscription (clause 5.8.5)", {204: None}, params=[sub_id]),
        },
        "/ngsi-ld/ex/remote-notify": {
            "post": op(
                "A context source's Notification of a subscription's copy, relayed to the "
                "local subscriber (v1.9.1 clause 5.8.6; docs/federation.md)",
                {200: None},
                _WRITE,
                [LINK],
                body(_FRAGMENT),
                tenant=False,
            ),
        },
    }


def temporal_paths() -> Document:
    """Clauses 5.6.11-5.6.16 and 5.7.3-5.7.4: the temporal API."""
    temporal = ref("Entity")
    found: dict[int, Document | Media | None] = {
        200: temporal,
        206: temporal,
    }
    listed: dict[int, Document | Media | None] = {
        200: ref("EntityList"),
        206: ref("EntityList"),
    }
    instance_id = param("instanceId", "path", TEXT)
    base = f"{V1}/temporal/entities"
    shape = [p for p in SHAPE if p["name"] != "format"]
    rep = param(
        "format",
        "query",
        {"enum": ["normalized", "temporalValues", "aggregatedValues", "simplified", "keyValues"]},
    )
    return {
        base: {
            "get": op(
                "Query temporal evolution of entities (clause 5.7.4)",
                listed,
                _READ,
                [*SELECTION, *TEMPORAL, *shape, rep, *PAGING, LINK],
            ),
            "post": op(
                "Create or update a temporal representation (clause 5.6.11)",
                {201: None, 204: None},
                _WRITE,
                [LINK],
                body(temporal),
            ),
        },
        f"{base}/{{entityId}}": {
            "get": op(
                "Retrieve the temporal evolution of an entity (clause 5.7.3)",
                found,
                _READ,
                [ENTITY_ID, *TEMPORAL, *shape, rep, LINK],
            ),
            "delete": op(
                "Delete a temporal representation (clause 5.6.16)",
                {204: None},
                params=[ENTITY_ID, LINK],
            ),
        },
        f"{base}/{{entityId}}/attrs": {
            "post": op(
                "Add attributes' instances (clause 5.6.12)",
                {204: None},
                _WRITE,
                [ENTITY_ID, LINK],
                body(_FRAGMENT),
            )
        },
        f"{base}/{{entityId}}/attrs/{{attrId}}": {
            "delete": op(
                "Delete an attribute's history (clause 5.6.13)",
                {204: None},
                params=[
                    ENTITY_ID,
                    ATTR_ID,
                    param("deleteAll", "query", {"type": "boolean"}),
                    param("datasetId", "query", TEXT),
                    LINK,
                ],
            )
        },
        f"{base}/{{entityId}}/attrs/{{attrId}}/{{instanceId}}": {
            "patch": op(
                "Modify an attribute instance (clause 5.6.14)",
                {204: None},
                _WRITE,
                [ENTITY_ID, ATTR_ID, instance_id, LINK],
                body(_FRAGMENT),
            ),
            "delete": op(
                "Delete an attribute instance (clause 5.6.15)",
                {204: None},
                params=[ENTITY_ID, ATTR_ID, instance_id, LINK],
            ),
        },
        f"{V1}/temporal/entityOperations/query": {
            "post": op(
                "Query temporal evolution, the query in the body (clause 5.7.4, 6.24)",
                listed,
                (*_READ, *BODY_ERRORS),
                [*PAGING, LINK],
                body(_FRAGMENT),
            )
        },
    }


def entity_map_paths() -> Document:
    """Clauses 5.14 and 5.15 (v1.9.1): EntityMaps and the context source's identity."""
    entity_map = ref("EntityMap")
    map_id = param("entityMapId", "path", TEXT, "the EntityMap's id (a URI)")
    maps = f"{V1}/entityMaps"
    return {
        maps: {
            "get": op(
                "Create an EntityMap for Query Entities (clause 5.14.4); its location in the "
                "NGSILD-EntityMap header",
                {201: entity_map},
                _READ,
                [*SELECTION, *PAGING, *ENTITY_MAP, param("attrs", "query", TEXT), LOCAL, LINK],
            ),
        },
        f"{V1}/temporal/entityMaps": {
            "get": op(
                "Create an EntityMap for Query Temporal Evolution of Entities (clause 5.14.5)",
                {201: entity_map},
                _READ,
                [*SELECTION, *TEMPORAL, *ENTITY_MAP, param("attrs", "query", TEXT), LOCAL, LINK],
            ),
        },
        f"{maps}/{{entityMapId}}": {
            "get": op(
                "Retrieve an EntityMap (clause 5.14.1)", {200: entity_map}, _READ, [map_id, LINK]
            ),
            "patch": op(
                "Update an EntityMap's expiresAt (clause 5.14.2)",
                {204: None},
                _WRITE,
                [map_id],
                _patch_body(_FRAGMENT),
            ),
            "delete": op("Delete an EntityMap (clause 5.14.3)", {204: None}, params=[map_id]),
        },
        f"{V1}/info/sourceIdentity": {
            "get": op(
                "This hub's identity as a context source (clause 5.15.1)",
                {200: ref("ContextSourceIdentity")},
                _READ,
                [LINK],
            ),
        },
    }


def registration_paths() -> Document:
    """Clauses 5.9-5.11: context source registrations and their subscriptions."""
    reg_id = param("registrationId", "path", TEXT)
    sub_id = param("subscriptionId", "path", TEXT)
    query = [
        param("id", "query", TEXT),
        param("type", "query", TEXT),
        param("idPattern", "query", TEXT),
        param("attrs", "query", TEXT),
        param("q", "query", TEXT),
        param("csf", "query", TEXT),
        param("scopeQ", "query", TEXT),
        param("georel", "query", TEXT),
        param("geometry", "query", TEXT),
        param("coordinates", "query", TEXT),
        param("geoproperty", "query", TEXT),
        param("timerel", "query", TEXT),
        param("timeAt", "query", TEXT),
        param("endTimeAt", "query", TEXT),
        param("options", "query", TEXT),
    ]
    regs = f"{V1}/csourceRegistrations"
    subs = f"{V1}/csourceSubscriptions"
    registration = ref("CSourceRegistration")
    subscription = ref("CSourceSubscription")
    return {
        regs: {
            "get": op(
                "Query context source registrations (clause 5.10.2)",
                {200: {"type": "array", "items": registration}},
                _READ,
                [*query, *PAGING, LINK],
            ),
            "post": op(
                "Register a context source (clause 5.9.2)",
                {201: None},
                (*_WRITE, 409),
                [LINK],
                body(registration),
            ),
        },
        f"{regs}/{{registrationId}}": {
            "get": op(
                "Retrieve a registration (clause 5.10.1)",
                {200: registration},
                _READ,
                [reg_id, param("options", "query", TEXT), LINK],
            ),
            "patch": op(
                "Update a registration (clause 5.9.3)",
                {204: None},
                _WRITE,
                [reg_id, LINK],
                _patch_body(_FRAGMENT),
            ),
            "delete": op("Delete a registration (clause 5.9.4)", {204: None}, params=[reg_id]),
        },
        subs: {
            "get": op(
                "Query registration subscriptions (clause 5.11.5)",
                {200: {"type": "array", "items": subscription}},
                _READ,
                [*PAGING, LINK],
            ),
            "post": op(
                "Subscribe to registrations (clause 5.11.2)",
                {201: None},
                (*_WRITE, 409),
                [LINK],
                body(subscription),
            ),
        },
        f"{subs}/{{subscriptionId}}": {
            "get": op(
                "Retrieve a registration subscription (clause 5.11.4)",
                {200: subscription},
                _READ,
                [sub_id, param("options", "query", TEXT), LINK],
            ),
            "patch": op(
                "Update a registration subscription (clause 5.11.3)",
                {204: None},
                _WRITE,
                [sub_id, LINK],
                _patch_body(_FRAGMENT),
            ),
            "delete": op(
                "Delete a registration subscription (clause 5.11.6)",
                {204: None},
                params=[sub_id],
            ),
        },
    }


def context_paths() -> Document:
    """Clause 5.13: hosted @contexts; and the API's root document."""
    context_id = param("contextId", "path", TEXT, "a hosted @context's localId, or its URL")
    flag = {"type": "boolean"}
    document = Media({JSON: OBJECT, JSONLD: OBJECT})
    return {
        f"{V1}/jsonldContexts": {
            "get": op(
                "The @contexts the hub knows (clause 5.13.3)",
                {200: Media({JSON: {"type": "array"}, JSONLD: {"type": "array"}})},
                (400, 401, 403, 406, 429),
                [param("details", "query", flag), param("kind", "query", TEXT)],
                tenant=False,
            ),
            "post": op(
                "Host a @context (clause 5.13.2)",
                {201: None},
                (400, 401, 403, 409, 413, 415, 429),
                request_body=body({"type": "object", "required": ["@context"]}),
                tenant=False,
            ),
        },
        f"{V1}/jsonldContexts/{{contextId}}": {
            "get": op(
                "A @context, or its details (clause 5.13.4)",
                {200: document},
                (400, 401, 403, 404, 406, 429),
                [context_id, param("details", "query", flag)],
                tenant=False,
            ),
            "delete": op(
                "Delete a @context, or reload a cached one (clause 5.13.5)",
                {204: None},
                (400, 401, 403, 404, 429, 503),
                [context_id, param("reload", "query", flag)],
                tenant=False,
            ),
        },
        V1: {
            "get": op(
                "What this hub's NGSI-LD API offers (its resources)",
                {200: OBJECT},
                (),
                tenant=False,
            )
        },
    }


__all__ = [
    "context_paths",
    "entity_paths",
    "registration_paths",
    "subscription_paths",
    "temporal_paths",
]
