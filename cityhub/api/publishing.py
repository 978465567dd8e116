"""The publishing rules' admin API (issue 19), beside access control's under ``/admin``: which
entity types of a tenant are open data (``cityhub.opendata.rules``). Only a hub administrator
may call it once access control is on (``cityhub.api.guard``: the ``admin`` action).

``PUT /admin/publishing/{type}?tenant=`` creates (201) or replaces (200) a type's rule,
``GET /admin/publishing[?tenant=]`` lists them, ``GET``/``DELETE /admin/publishing/{type}``
reads or removes one (the type a term of the core @context, or an IRI, URL-encoded).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityhub.access.control import AccessControl
from cityhub.access.tenants import check_tenant_name
from cityhub.api.location import location
from cityhub.api.negotiation import json_response, read_json
from cityhub.api.routing import Route
from cityhub.errors import NonexistentTenant
from cityhub.opendata.service import Publishing


def publishing_of(request: Request) -> Publishing:
    found: Publishing = request.app.state.publishing
    return found


async def _tenant(request: Request) -> str:
    """The ``tenant`` query parameter ("" the default tenant), a managed one once tenants are
    managed."""
    raw = request.query_params.get("tenant", "")
    if raw == "":
        return ""
    tenant = check_tenant_name(raw)
    control: AccessControl = request.app.state.access
    managed = {t.name for t in await control.tenants()}
    if managed and tenant not in managed:
        raise NonexistentTenant(f"tenant {tenant!r} does not exist; create it first")
    return tenant


async def put_rule(request: Request) -> Response:
    body = (await read_json(request))[0]
    tenant = await _tenant(request)
    publication, created = await publishing_of(request).put(
        tenant, request.path_params["type"], body
    )
    if not created:
        return json_response(publication.document())
    return json_response(
        publication.document(),
        status=201,
        headers={"Location": location("/admin/publishing", publication.name)},
    )


async def list_rules(request: Request) -> Response:
    publishing = publishing_of(request)
    if "tenant" in request.query_params:
        found = await publishing.published(await _tenant(request))
    else:
        found = await publishing.every_tenant()
    return json_response([p.document() for p in found])


async def get_rule(request: Request) -> Response:
    tenant = await _tenant(request)
    publication = await publishing_of(request).publication(tenant, request.path_params["type"])
    return json_response(publication.document())


async def delete_rule(request: Request) -> Response:
    tenant = await _tenant(request)
    await publishing_of(request).delete(tenant, request.path_params["type"])
    return Response(status_code=204)


routes = [
    Route("/admin/publishing", list_rules, methods=["GET"]),
    Route("/admin/publishing/{type:path}", put_rule, methods=["PUT"]),
    Route("/admin/publishing/{type:path}", get_rule, methods=["GET"]),
    Route("/admin/publishing/{type:path}", delete_rule, methods=["DELETE"]),
]

__all__ = ["publishing_of", "routes"]
