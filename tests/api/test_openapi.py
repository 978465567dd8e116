"""``GET /openapi.json`` (issue 20 item 7) describes what the hub serves, and the hub keeps to
it: schemathesis generates requests for every described operation from the description
(hostile strings, wrong types, missing members, odd tenants and @context links) and sends them
to the in-process hub, on both backends, offline. No answer may be a 5xx, and each answer's
status, content type and body must be among those the description gives its operation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from starlette.testclient import TestClient

from cityhub.api.openapi import openapi_document

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
#: examples per operation and backend: a bounded fuzz, run in every gate (OPENAPI_EXAMPLES=200
#: for a deeper one)
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "12"))
CHECKS: list[Callable[..., Any]] = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def test_the_description_is_served_and_names_every_family(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    for path in ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/entityOperations/upsert", "/admin/keys"):
        assert path in doc["paths"], path
    for op in (o for item in doc["paths"].values() for o in item.values()):
        assert op["responses"], op["summary"]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_the_hub_keeps_to_its_description(client: TestClient, operation: Any) -> None:
    # a few entities, so reads and writes by id meet existing ones too
    seeded = [
        {"id": f"urn:ngsi-ld:Thing:{i}", "type": "Thing", "n": {"type": "Property", "value": i}}
        for i in range(3)
    ]
    assert client.post("/ngsi-ld/v1/entityOperations/upsert", json=seeded).status_code == 201

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
        response = client.request(**kwargs)
        case.validate_response(response, checks=CHECKS)

    run()
