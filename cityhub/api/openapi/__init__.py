"""The OpenAPI 3.1 description of everything the hub serves, at ``GET /openapi.json`` (issue
20 item 7): the NGSI-LD API (ETSI GS CIM 009 clause 6, HTTP binding: entities, batch, types,
subscriptions, temporal, registrations, @contexts), the admin API, the IoT agent, the city
services' indicators, the open data routes, the dashboard and the health checks, with their
parameters, bodies and every status each may answer.

``tests/api/test_openapi.py`` checks that every route the app serves is described (it walks
Starlette's router) and fuzzes the in-process hub against the description with schemathesis
(no 5xx; statuses, content types and bodies as described).

Errors are NGSI-LD ProblemDetails (RFC 9457 members, clause 5.5.4) served as
``application/json``; the data.go.kr-style API answers its errors in its own shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api.negotiation import json_response
from cityhub.api.openapi import ngsild, services
from cityhub.api.openapi.parts import Document, op, schemas
from cityhub.api.routing import Route


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
            **services.hub_paths(),
            **ngsild.entity_paths(),
            **ngsild.subscription_paths(),
            **ngsild.temporal_paths(),
            **ngsild.registration_paths(),
            **ngsild.entity_map_paths(),
            **ngsild.context_paths(),
            **services.admin_paths(),
            **services.iot_paths(),
            **services.service_paths(),
            **services.opendata_paths(),
            "/openapi.json": {
                "get": op("This description", {200: {"type": "object"}}, (), tenant=False)
            },
        },
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


async def serve_openapi(request: Request) -> Response:
    """``GET /openapi.json``."""
    return json_response(openapi_document())


routes: list[Route] = [Route("/openapi.json", serve_openapi, methods=["GET"])]

__all__ = ["openapi_document", "routes"]
