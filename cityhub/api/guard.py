"""Access control on every request (issue 20): an ASGI layer between :class:`ApiFront` and
the router, and the helpers routes use to narrow what they read to what the caller may see.

The layer reads the tenant (``NGSILD-Tenant``) and the ``Authorization`` header, asks
``cityhub.access.control.AccessControl`` what the caller may do, refuses the request when it
may not do the route's action on any entity (the action by route family: reads ``read``,
subscriptions ``subscribe``, the admin API a hub administrator's key, anything else ``write``),
and hands the :class:`~cityhub.access.control.Access` to the route in the scope. Routes then
narrow entity queries in the store (:func:`narrowed`: the caller's targets become an
``EntityQuery.permitted`` condition, so counts and pages never show the rest) and check single
entities (:func:`require_entity`).

While access control is off (nothing configured) the layer costs a header read and a clock
read per request: no store round trip.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.access.control import OPEN, Access, AccessControl
from cityhub.access.tenants import TENANT_NAME
from cityhub.api.negotiation import TENANT_HEADER, checked_tenant
from cityhub.api.size_limits import caller_limits, limited
from cityhub.errors import BadRequestData, CityhubError, Forbidden, ResourceNotFound
from cityhub.ngsild.distributed_subscription import NOTIFY_PATH
from cityhub.provision import BatchItem
from cityhub.store.base import EntityQuery

log = logging.getLogger("cityhub")

SCOPE_KEY = "cityhub.access"
API = "/ngsi-ld/v1/"
_TENANT_HEADER = TENANT_HEADER.lower().encode("latin-1")

#: open whatever is configured: liveness, the home page, the API's description, the
#: @contexts the hub hosts (clients and notification receivers resolve them), and the
#: notifications context sources send for subscriptions' copies (the random copy id they
#: name is their credential: cityhub.federation.subscriptions)
_OPEN_PATHS = ("/health", "/health/live", "/", "/ngsi-ld/v1", "/openapi.json", NOTIFY_PATH)
#: the IoT agent's southbound routes: devices authenticate with their config group's apikey
#: (docs/iot.md), not with a caller's credentials
_DEVICE_PATHS = ("/iot/d", "/iot/json", "/iot/d/commands", "/iot/json/commands")
_IOT = "/iot/"
_FIWARE_SERVICE = b"fiware-service"
_READ_METHODS = frozenset({"GET", "HEAD"})
_SUMMARIES = (API + "types", API + "attributes")
#: open data (issue 19, docs/opendata.md): what the tenant's publishing rules publish, read by
#: anyone as access control's public (quotas per address; credentials that do not hold are
#: still 401); the routes serve nothing a rule does not publish
_PUBLIC_PREFIXES = ("/ogcapi", "/opendata/", "/catalog.", "/data/")
_GOVKR = "/data/api/"
#: the dashboard's live feed names its tenant in a parameter (the page sends it no tenant header)
_FEED = "/dashboard/feed"
#: the dashboard's files (its code and styles, Leaflet's: no data), which a browser loads before
#: it can ask the person for credentials
_DASHBOARD_FILES = "/dashboard/static/"


def action_of(method: str, path: str) -> str | None:
    """The action a request needs (read, write, subscribe, admin), ``public`` for open data
    (anyone: the routes serve only what is published), or None for an open one."""
    if path in _OPEN_PATHS or path in _DEVICE_PATHS:
        return None
    if method in _READ_METHODS and path.startswith(_DASHBOARD_FILES):
        return None
    if path.startswith("/admin/") or path == "/admin":
        return "admin"
    if path.startswith(API + "jsonldContexts") and method in _READ_METHODS:
        return None
    if method in _READ_METHODS and path.startswith(_GOVKR):
        return None  # the data.go.kr-style API checks its serviceKey itself (api/govkr.py)
    if method in _READ_METHODS and (path == "/data" or path.startswith(_PUBLIC_PREFIXES)):
        return "public"
    if path.startswith(API + "subscriptions"):
        return "subscribe"
    if method in _READ_METHODS:
        return "read"
    if method == "POST" and path.endswith("/entityOperations/query"):
        return "read"
    return "write"


def _headers(scope: Scope, tenant_header: bytes) -> tuple[str, str | None]:
    """The tenant header's value ("" when absent) and Authorization's (None), each the first
    of its name, in one pass over the headers."""
    tenant: str | None = None
    authorization: str | None = None
    for key, value in scope["headers"]:
        if key == tenant_header:
            if tenant is None:
                tenant = value.decode("latin-1")
        elif key == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
    return tenant or "", authorization


class AccessGuard:
    """The ASGI layer (see the module's docstring)."""

    def __init__(self, app: ASGIApp, control: AccessControl) -> None:
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        action = action_of(scope["method"], scope["path"])
        if action is None:
            scope[SCOPE_KEY] = OPEN
            await self.app(scope, receive, send)
            return
        # the IoT agent's provisioning API names the tenant as FIWARE does
        header = _FIWARE_SERVICE if scope["path"].startswith(_IOT) else _TENANT_HEADER
        tenant, authorization = _headers(scope, header)
        if scope["path"] == _FEED:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            tenant = checked_tenant(query.get("tenant", [""])[-1], "the tenant parameter")
        if tenant and action != "admin":
            if TENANT_NAME.fullmatch(tenant) is None:
                if header is _FIWARE_SERVICE:
                    # every IoT route reads the header before it touches anything and refuses
                    # it in the IoT agent's own error shape (WRONG_SYNTAX)
                    await self.app(scope, receive, send)
                    return
                raise BadRequestData(
                    f"{header.decode().title()} must be 1-64 letters, digits, '-' or '_', got "
                    f"{tenant!r}"
                )
        access = await self.control.authorize("" if action == "admin" else tenant, authorization)
        if access.enforced:
            if action == "admin":
                # a hub administrator's key, or an admin permission on the whole default
                # tenant (a token's subject or claim: Keycloak's operators)
                access.require_all("admin", f"{scope['method']} {scope['path']}")
            elif action != "public":
                access.require(action, f"{scope['method']} {scope['path']}")
            if action == "read" and scope["path"].startswith(_SUMMARIES):
                # every type and attribute of the tenant, with counts: not narrowable
                access.require_all("read", f"GET {scope['path']}")
            elif header is _FIWARE_SERVICE:
                # a provisioned device writes the entities its provisioning names through
                # the southbound routes, whatever the provisioner's targets: the IoT agent's
                # provisioning needs the action on the whole tenant
                access.require_all(action, f"{scope['method']} {scope['path']}")
            if access.targets(action) is not None:  # narrowed: judge the entity it names
                entity_id = _entity_of_path(scope)
                if entity_id is not None:
                    await _require_entity(scope, access, tenant, entity_id, action)
            quotas = self.control.quotas
            if not access.admin and quotas.active(access.settings):
                caller = access.who.name
                if not access.who.authenticated:  # the public: one bucket per address
                    caller = f"anonymous@{(scope.get('client') or ('?', 0))[0]}"
                await quotas.charge(caller, access.settings)
            if not access.admin:
                request_limit, response_limit = caller_limits(
                    self.control.settings, access.settings
                )
                if action != "read":
                    # a write's answer reports what was done: refusing it would hide a
                    # change that happened
                    response_limit = 0
                if request_limit or response_limit:
                    receive, send = limited(scope, receive, send, request_limit, response_limit)
        scope[SCOPE_KEY] = access
        # the audit log: every admin action; every write while access control is on
        if action == "admin" or (access.enforced and action not in ("read", "public")):
            await self._audited(scope, receive, send, access, action)
        else:
            await self.app(scope, receive, send)

    async def _audited(
        self, scope: Scope, receive: Receive, send: Send, access: Access, action: str
    ) -> None:
        """Run the request and append its line to the audit log: who, when, what (the method
        and path, the entity ids, never the payload), and the status."""
        status = 0
        location = ""
        request_body = bytearray()
        response_body = bytearray()
        batch = scope["path"].startswith(_BATCH) and not scope["path"].endswith("/query")

        async def receive_wrapper() -> Message:
            message = await receive()
            if batch and message["type"] == "http.request" and len(request_body) < _AUDIT_BYTES:
                request_body.extend(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"location":
                        location = value.decode("latin-1")
            elif batch and message["type"] == "http.response.body":
                if len(response_body) < _AUDIT_BYTES:
                    response_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_wrapper if batch else receive, send_wrapper)
        except CityhubError as exc:
            status = exc.status
            raise
        except Exception:
            status = 500
            raise
        finally:
            ids = _audit_ids(scope, location, bytes(request_body), bytes(response_body), status)
            try:
                await self.control.audit(
                    access.tenant,
                    access.who.name,
                    action,
                    f"{scope['method']} {scope['path']}",
                    ids,
                    status,
                )
            except Exception:  # the request's own outcome stands; the operator hears of it
                log.exception("could not append to the audit log")


#: a batch body read for the audit log's ids at most (beyond it: the ids read so far)
_AUDIT_BYTES = 4 * 1024 * 1024
_BATCH = API + "entityOperations/"


def _audit_ids(
    scope: Scope, location: str, request_body: bytes, response_body: bytes, status: int
) -> tuple[str, ...]:
    """The entity ids a write named: its path's, its Location's, or a batch's (those the 207
    reports as done, else those it carried)."""
    entity_id = _entity_of_path(scope)
    if entity_id is not None:
        return (entity_id,)
    if location:
        return (unquote(location.rsplit("/", 1)[-1]),)
    if not request_body:
        return ()
    try:
        if status == 207:
            done = orjson.loads(response_body).get("success", [])
            return tuple(str(i) for i in done if isinstance(i, str))
        items = orjson.loads(request_body)
    except (orjson.JSONDecodeError, AttributeError):
        return ()
    if not isinstance(items, list):
        return ()
    ids = [i if isinstance(i, str) else i.get("id") if isinstance(i, dict) else None for i in items]
    return tuple(i for i in ids if isinstance(i, str))


#: the routes about one entity: /entities/{id}..., /temporal/entities/{id}...
_ENTITY_PATH = re.compile(r"/ngsi-ld/v1/(?:temporal/)?entities/([^/]+)(?:/.*)?", re.DOTALL)


def _entity_of_path(scope: Scope) -> str | None:
    """The entity id a request's path names, decoded, or None (the raw path is matched: an
    encoded ``/`` is part of the id, as the router reads it)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    match = _ENTITY_PATH.fullmatch(raw.decode("latin-1"))
    if match is None:
        return None
    try:
        return unquote(match.group(1), errors="strict")
    except UnicodeDecodeError:
        return None  # the route refuses it


_TEMPORAL = API + "temporal/"


def absent(path: str, entity_id: str) -> ResourceNotFound:
    """What a route answers for an id nothing holds: a hidden entity gets the very same (an
    entity the caller may not read does not exist for it; tests/access/test_existence.py)."""
    if path.startswith(_TEMPORAL):
        return ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
    return ResourceNotFound(f"there is no entity with id {entity_id}")


def outside(access: Access, action: str, entity_id: str) -> Forbidden:
    """The refusal of an entity outside the caller's targets, the same whether the caller
    named it in a payload or its id is held by an entity it may not see."""
    return Forbidden(
        f"{access.who.name} may not {action} entity {entity_id}: it is of none of the ids, "
        "types or scopes its permissions name"
    )


async def _stored(scope: Scope, tenant: str, entity_id: str) -> Mapping[str, Any] | None:
    """The entity as permissions judge it: its current state, or, on the temporal routes, the
    head of its temporal representation (a deleted entity's history stays readable there)."""
    app = scope["app"]
    entity: Mapping[str, Any] | None = await app.state.store.get_entity(tenant, entity_id)
    if entity is None and scope["path"].startswith(_TEMPORAL):
        entity = await app.state.temporal.get_head(tenant, entity_id)
    return entity


async def _require_entity(
    scope: Scope, access: Access, tenant: str, entity_id: str, action: str
) -> None:
    if access.targets(action) is None:
        return
    entity = await _stored(scope, tenant, entity_id)
    if entity is None:
        return  # nothing there: the route answers as without access control
    # the targets judged on the stored entity, with the meaning the store query gives them
    # (permissions.Target.covers): a lookup by id, not a query per request
    types, scopes = entity["type"], entity.get("scope") or ()
    if access.covers(action, entity_id, types, scopes):
        return
    if action != "read" and access.covers("read", entity_id, types, scopes):
        # it may see the entity: that it may not change it is no secret
        raise Forbidden(f"{access.who.name} may read entity {entity_id} but not {action} it")
    # as for a missing entity: whether it exists is not told
    raise absent(scope["path"], entity_id)


def access_of(request: Request) -> Access:
    """The request's access decision (:data:`OPEN` for an app built without a guard)."""
    found: Any = request.scope.get(SCOPE_KEY)
    return found if isinstance(found, Access) else OPEN


def narrowed(request: Request, query: EntityQuery, action: str = "read") -> EntityQuery:
    """``query`` limited to the entities the caller may ``action`` (in the store query).

    When every target is a type and the query names types, the query keeps only the types
    the caller may see as well: the same answer (the condition stays), but the store's type
    index leaves out the rest before the condition is evaluated on each entity (a query of
    two types over 100,000 entities, one of them permitted: docs/access.md)."""
    permitted = access_of(request).permitted(action)
    if permitted is None:
        return query
    if query.types and query.type_query is None and permitted:
        if all(p.types and p == EntityQuery(types=p.types) for p in permitted):
            allowed = {t for p in permitted for t in p.types}  # only type targets
            kept = tuple(t for t in query.types if t in allowed)
            if kept:
                return replace(query, types=kept, permitted=permitted)
    return replace(query, permitted=permitted)


async def require_entity(
    request: Request, tenant: str, entity_id: str, action: str = "read"
) -> None:
    """Raise ResourceNotFound (as for a missing entity: its existence is not told) unless the
    caller may ``action`` this entity, when it exists (Forbidden when it may read it but not
    ``action`` it). Costs nothing unless the caller's permission is narrowed to targets."""
    await _require_entity(request.scope, access_of(request), tenant, entity_id, action)


async def require_new(
    request: Request, tenant: str, action: str, entity: Mapping[str, Any]
) -> None:
    """Raise Forbidden unless the caller may ``action`` an entity with this payload's id,
    types and scopes (an expanded entity about to be created or upserted), and, when an
    entity holds that id already, that one too: a create's AlreadyExists (clause 5.6.1)
    would tell of an entity the caller may not see, and an upsert would change it."""
    access = access_of(request)
    if access.targets(action) is None:
        return
    entity_id = str(entity.get("id", ""))
    if not access.covers(action, entity_id, _listed(entity, "type"), _listed(entity, "scope")):
        raise outside(access, action, entity_id)
    stored = await _stored(request.scope, tenant, entity_id)
    if stored is not None and not access.covers(
        action, entity_id, stored["type"], stored.get("scope") or ()
    ):
        raise outside(access, action, entity_id)


def _listed(entity: Mapping[str, Any], member: str) -> list[str]:
    found = entity.get(member) or ()
    return [found] if isinstance(found, str) else list(found)


async def screen_batch(
    request: Request, tenant: str, items: list[BatchItem], *, payload: bool
) -> list[BatchItem]:
    """A batch's items with those the caller may not write turned into per-entity errors (the
    207 reports them; the others go ahead), as the single-entity routes answer: an existing
    entity the caller may not see is reported as not found, as a missing one is (its
    existence is not told), or with ``payload`` (create, upsert) Forbidden, as a payload
    outside the targets is; one it may read but not write is Forbidden. Unchanged unless the
    caller is narrowed."""
    access = access_of(request)
    if access.targets("write") is None:
        return items
    ids = tuple({i for i, _, err in items if i is not None and err is None})
    existing: dict[str, Mapping[str, Any]] = {}
    if ids:
        found = await request.app.state.store.query_entities(
            tenant, EntityQuery(ids=ids, limit=len(ids))
        )
        existing = {e["id"]: e for e in found.entities}
    screened: list[BatchItem] = []
    for entity_id, entity, err in items:
        if err is None and entity_id is not None:
            stored = existing.get(entity_id)
            if stored is not None:
                types, scopes = stored["type"], stored.get("scope") or ()
                if access.covers("write", entity_id, types, scopes):
                    pass
                elif access.covers("read", entity_id, types, scopes):
                    err = Forbidden(
                        f"{access.who.name} may read entity {entity_id} but not write it"
                    )
                elif payload:
                    err = outside(access, "write", entity_id)
                else:
                    err = absent(API, entity_id)  # as the batch reports a missing one
            if err is None and payload and entity is not None:
                types, scopes = _listed(entity, "type"), _listed(entity, "scope")
                if not access.covers("write", entity_id, types, scopes):
                    err = outside(access, "write", entity_id)
            if err is not None:
                entity = None
        screened.append((entity_id, entity, err))
    return screened


def require_unnarrowed(request: Request, action: str, what: str) -> None:
    """Raise unless the caller may ``action`` every entity of the tenant (for answers that
    summarise all of them, such as /types and /attributes)."""
    access_of(request).require_all(action, what)


__all__ = [
    "SCOPE_KEY",
    "AccessGuard",
    "absent",
    "access_of",
    "action_of",
    "narrowed",
    "outside",
    "require_entity",
    "require_new",
    "require_unnarrowed",
    "screen_batch",
]
