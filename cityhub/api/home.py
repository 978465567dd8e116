"""``GET /ngsi-ld/v1``: what the NGSI-LD API of this hub offers, and ``GET /``: where things
are, for a client that does not ask for HTML (a browser gets the dashboard,
``cityhub.dashboard``).

The NGSI-LD specification leaves the discovery of its API root out of scope (clause 6.2); a
person or a client that opens the root gets a small JSON document naming the API's resources
(a "home document"), instead of a 404 that says to look under the very path it asked for.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api.negotiation import json_response
from cityhub.api.routing import Route

API = "/ngsi-ld/v1"

#: The API's resources (ETSI GS CIM 009 v1.8.1, table 6.2-1), as this hub serves them.
RESOURCES: dict[str, str] = {
    "entities": f"{API}/entities",
    "entityOperations": f"{API}/entityOperations",
    "types": f"{API}/types",
    "attributes": f"{API}/attributes",
    "subscriptions": f"{API}/subscriptions",
    "csourceRegistrations": f"{API}/csourceRegistrations",
    "csourceSubscriptions": f"{API}/csourceSubscriptions",
    "temporalEntities": f"{API}/temporal/entities",
    "temporalEntityOperations": f"{API}/temporal/entityOperations",
    "jsonldContexts": f"{API}/jsonldContexts",
}


def _document(**more: Any) -> dict[str, Any]:
    return {
        "name": "cityhub",
        "version": __version__,
        "description": "NGSI-LD context broker and open data hub for smart cities",
        **more,
        "health": "/health",
    }


async def api_root(request: Request) -> Response:
    return json_response(
        _document(
            specification="ETSI GS CIM 009 (NGSI-LD API) v1.8",
            resources=RESOURCES,
        )
    )


async def hub_root(request: Request) -> Response:
    return json_response(
        _document(
            api=API,
            note="a browser gets the city's dashboard here; the NGSI-LD API is under " + API,
        )
    )


routes = [
    Route("/", hub_root, methods=["GET"]),
    Route(API, api_root, methods=["GET"]),
]

__all__ = ["RESOURCES", "api_root", "hub_root", "routes"]
