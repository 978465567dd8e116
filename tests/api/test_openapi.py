"""``GET /openapi.json`` (issue 20 item 7) describes what the hub serves, and the hub keeps to
it: schemathesis generates requests for every described operation from the description
(hostile strings, wrong types, missing members, odd tenants and @context links) and sends them
to the in-process hub, on both backends, offline. No answer may be a 5xx, and each answer's
status, content type and body must be among those the description gives its operation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from starlette.routing import Route as StarletteRoute
from starlette.testclient import TestClient

from cityhub.api.openapi import openapi_document
from tests.conftest import make_client

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
#: the dashboard's live feed is an endless Server-Sent Events stream, which a fuzzer's request
#: never finishes reading: it is described, and tests/dashboard read it with a reader that stops
ENDLESS = {("GET", "/dashboard/feed")}
OPERATIONS = [
    op
    for op in (result.ok() for result in SCHEMA.get_all_operations())
    if (op.method.upper(), op.path) not in ENDLESS
]
#: examples per operation and backend: a bounded fuzz, run in every gate (OPENAPI_EXAMPLES=200
#: for a deeper one)
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "12"))
CHECKS: list[Callable[..., Any]] = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def _template(path: str) -> str:
    """A path template with its parameters unnamed: ``/a/{entity_id:path}`` -> ``/a/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _served(app: Any) -> set[tuple[str, str]]:
    """(method, path template) of every operation the app's router serves: HEAD goes with
    GET, and a route that exists only to refuse its methods (a 405) serves none."""
    out = set()
    for route in app.router.routes:
        if not isinstance(route, StarletteRoute) or getattr(route, "refuses", False):
            continue
        for method in route.methods or ():
            if method != "HEAD":
                out.add((method.lower(), _template(route.path)))
    return out


def test_every_route_the_hub_serves_is_described(tmp_path: Path) -> None:
    """Issue 20 item 7: the description covers everything the hub serves. A route added
    without its description fails here, naming it."""
    app = make_client(tmp_path, dashboard=True).app
    described = {
        (method, _template(path))
        for path, item in openapi_document()["paths"].items()
        for method in item
    }
    served = _served(app)
    assert len(served) > 100  # the walk found the routes (not an empty router)
    assert sorted(served - described) == []
    # and nothing is described that the hub does not serve
    assert sorted(described - served) == []


def test_the_description_is_served_and_names_every_family(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    for path in (
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entityOperations/upsert",
        "/ngsi-ld/v1/temporal/entities/{entityId}",
        "/ngsi-ld/v1/csourceRegistrations",
        "/ngsi-ld/v1/jsonldContexts",
        "/admin/keys",
        "/iot/devices",
        "/iot/d",
        "/indicators/gap",
        "/ogcapi/collections/{collectionId}/items",
        "/opendata/{file}",
        "/data/api/{type}",
        "/dashboard/feed",
    ):
        assert path in doc["paths"], path
    for op in (o for item in doc["paths"].values() for o in item.values()):
        assert op["responses"], op["summary"]


#: operations that cannot be fuzzed with a request that waits for the whole answer: the
#: dashboard's feed never ends (tests/dashboard drive it with a reader that stops)


def _seed(client: TestClient) -> None:
    """A few entities with history, a published type, an IoT config group and device, a
    registration: so the fuzzed reads and writes by id and name meet existing ones too."""
    seeded = [
        {
            "id": f"urn:ngsi-ld:Thing:{i}",
            "type": "Thing",
            "n": {"type": "Property", "value": i, "observedAt": "2026-11-01T09:00:00Z"},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127, 37]},
            },
        }
        for i in range(3)
    ]
    assert client.post("/ngsi-ld/v1/entityOperations/upsert", json=seeded).status_code == 201
    rule = {"history": True}
    assert client.put("/admin/publishing/Thing", json=rule).status_code in (200, 201)
    group = {"groups": [{"apikey": "k1", "resource": "/iot/d", "entity_type": "Thing"}]}
    assert client.post("/iot/groups", json=group).status_code == 201
    device = {"devices": [{"device_id": "d1", "entity_name": "urn:ngsi-ld:Thing:0",
                           "entity_type": "Thing", "apikey": "k1"}]}  # fmt: skip
    assert client.post("/iot/devices", json=device).status_code == 201
    registration = {
        "id": "urn:ngsi-ld:ContextSourceRegistration:1",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Remote"}]}],
        "endpoint": "http://127.0.0.1:9/",
    }
    assert client.post("/ngsi-ld/v1/csourceRegistrations", json=registration).status_code == 201


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_the_hub_keeps_to_its_description(client: TestClient, operation: Any) -> None:
    _seed(client)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), str | bytes):  # a text body (UltraLight): as content
            kwargs["content"] = kwargs.pop("data")
        response = client.request(**kwargs)
        case.validate_response(response, checks=CHECKS)

    run()
