"""The admin API (issue 20): managed tenants, API keys and permissions, under ``/admin``.
Only a hub administrator's key may call it once access control is on (``cityhub.api.guard``);
``cityhub tenants`` and ``cityhub keys`` do the same from the command line.

An API key's text is in the answer to its creation and nowhere else, ever: listings show its
id (the visible prefix), name, tenant and dates.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub.access.control import AccessControl
from cityhub.access.tenants import check_tenant_name
from cityhub.api.negotiation import json_response, read_json
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData
from cityhub.store.access import ApiKeyRecord, PermissionRecord, TenantRecord


def _control(request: Request) -> AccessControl:
    control: AccessControl = request.app.state.access
    return control


def tenant_doc(record: TenantRecord) -> dict[str, Any]:
    return {"name": record.name, "settings": record.settings, "createdAt": record.created_at}


def key_doc(record: ApiKeyRecord) -> dict[str, Any]:
    """A key as listings show it: never its secret nor its digest."""
    doc: dict[str, Any] = {
        "keyId": record.key_id,
        "prefix": f"chk_{record.key_id}_",
        "name": record.name,
        "tenant": record.tenant,
        "admin": record.admin,
        "createdAt": record.created_at,
    }
    if record.expires_at:
        doc["expiresAt"] = record.expires_at
    if record.revoked_at:
        doc["revokedAt"] = record.revoked_at
    return doc


def permission_doc(record: PermissionRecord) -> dict[str, Any]:
    return {"id": record.id, "tenant": record.tenant, **record.doc, "createdAt": record.created_at}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object")
    return body


def _tenant_param(request: Request) -> str:
    raw = request.query_params.get("tenant", "")
    return "" if raw == "" else check_tenant_name(raw)


async def create_tenant(request: Request) -> Response:
    body = _object((await read_json(request))[0])
    unknown = sorted(set(body) - {"name", "settings"})
    if unknown:
        raise BadRequestData(
            f"unknown member(s) {', '.join(unknown)}; a tenant is {{name, settings}}"
        )
    record = await _control(request).create_tenant(body.get("name"), body.get("settings"))
    return json_response(
        tenant_doc(record), status=201, headers={"Location": f"/admin/tenants/{record.name}"}
    )


async def list_tenants(request: Request) -> Response:
    return json_response([tenant_doc(t) for t in await _control(request).tenants()])


async def describe_tenant(request: Request) -> Response:
    control = _control(request)
    name = check_tenant_name(request.path_params["name"])
    doc = tenant_doc(await control.tenant(name))
    doc["keys"] = len(await control.keys(name))
    doc["permissions"] = len(await control.permissions(name))
    return json_response(doc)


async def update_tenant(request: Request) -> Response:
    body = _object((await read_json(request))[0])
    if set(body) - {"settings"}:
        raise BadRequestData("PATCH /admin/tenants/{name} takes {settings}")
    name = check_tenant_name(request.path_params["name"])
    return json_response(
        tenant_doc(await _control(request).update_tenant(name, body.get("settings")))
    )


async def delete_tenant(request: Request) -> Response:
    await _control(request).delete_tenant(check_tenant_name(request.path_params["name"]))
    return Response(status_code=204)


async def create_key(request: Request) -> Response:
    body = _object((await read_json(request))[0])
    unknown = sorted(set(body) - {"tenant", "name", "admin", "expiresAt"})
    if unknown:
        raise BadRequestData(
            f"unknown member(s) {', '.join(unknown)}; a key is "
            "{name, tenant?, admin?, expiresAt?}"
        )
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise BadRequestData("admin must be true or false")
    text, record = await _control(request).create_key(
        body.get("tenant"), body.get("name"), admin=admin, expires_at=body.get("expiresAt")
    )
    doc = key_doc(record)
    doc["key"] = text  # the one time it is shown
    return json_response(
        doc,
        status=201,
        headers={"Location": f"/admin/keys/{record.key_id}", "Cache-Control": "no-store"},
    )


async def list_keys(request: Request) -> Response:
    raw = request.query_params.get("tenant")
    tenant = None if raw is None else _tenant_param(request)
    return json_response([key_doc(k) for k in await _control(request).keys(tenant)])


async def describe_key(request: Request) -> Response:
    return json_response(key_doc(await _control(request).key(request.path_params["key_id"])))


async def revoke_key(request: Request) -> Response:
    await _control(request).revoke_key(request.path_params["key_id"])
    return Response(status_code=204)


async def create_permission(request: Request) -> Response:
    body = dict(_object((await read_json(request))[0]))
    raw = body.pop("tenant", "")
    tenant = "" if raw == "" else check_tenant_name(raw)
    record = await _control(request).add_permission(tenant, body)
    return json_response(permission_doc(record), status=201)


async def list_permissions(request: Request) -> Response:
    records = await _control(request).permissions(_tenant_param(request))
    return json_response([permission_doc(p) for p in records])


async def delete_permission(request: Request) -> Response:
    await _control(request).delete_permission(
        _tenant_param(request), request.path_params["permission_id"]
    )
    return Response(status_code=204)


async def query_audit(request: Request) -> Response:
    """The audit log, oldest first: ``tenant`` (absent: every tenant), ``after`` (a sequence
    number: the lines after it), ``limit`` (1-1000, default 100)."""
    params = request.query_params
    raw = params.get("tenant")
    tenant = None if raw is None else _tenant_param(request)
    after, limit = params.get("after", "0"), params.get("limit", "100")
    if not (after.isascii() and after.isdigit() and limit.isascii() and limit.isdigit()):
        raise BadRequestData("after and limit are whole numbers")
    if not 1 <= int(limit) <= 1000 or len(after) > 18:
        raise BadRequestData("limit is 1-1000; after a sequence number")
    lines = await _control(request).audit_lines(tenant, int(after), int(limit))
    return json_response(
        [
            {
                "seq": line.seq,
                "at": line.at,
                "tenant": line.tenant,
                "actor": line.actor,
                "action": line.action,
                "target": line.target,
                "ids": list(line.ids),
                "status": line.status,
            }
            for line in lines
        ]
    )


routes = [
    Route("/admin/audit", query_audit, methods=["GET"]),
    Route("/admin/tenants", create_tenant, methods=["POST"]),
    Route("/admin/tenants", list_tenants, methods=["GET"]),
    Route("/admin/tenants/{name}", describe_tenant, methods=["GET"]),
    Route("/admin/tenants/{name}", update_tenant, methods=["PATCH"]),
    Route("/admin/tenants/{name}", delete_tenant, methods=["DELETE"]),
    Route("/admin/keys", create_key, methods=["POST"]),
    Route("/admin/keys", list_keys, methods=["GET"]),
    Route("/admin/keys/{key_id}", describe_key, methods=["GET"]),
    Route("/admin/keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/admin/permissions", create_permission, methods=["POST"]),
    Route("/admin/permissions", list_permissions, methods=["GET"]),
    Route("/admin/permissions/{permission_id:path}", delete_permission, methods=["DELETE"]),
]

__all__ = ["key_doc", "permission_doc", "routes", "tenant_doc"]
