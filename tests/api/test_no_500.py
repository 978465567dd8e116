"""Property-based: malformed bodies and parameters on every route give 4xx ProblemDetails,
never a 500 (issue: "bad input always gets a clear NGSI-LD ProblemDetails error")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import entity, make_client

ROUTES = [
    ("POST", "/ngsi-ld/v1/entities"),
    ("GET", "/ngsi-ld/v1/entities"),
    ("DELETE", "/ngsi-ld/v1/entities"),
    ("GET", "/ngsi-ld/v1/entities/urn:a:1"),
    ("PATCH", "/ngsi-ld/v1/entities/urn:a:1"),
    ("PUT", "/ngsi-ld/v1/entities/urn:a:1"),
    ("DELETE", "/ngsi-ld/v1/entities/urn:a:1"),
    ("POST", "/ngsi-ld/v1/entities/urn:a:1/attrs"),
    ("PATCH", "/ngsi-ld/v1/entities/urn:a:1/attrs"),
    ("PATCH", "/ngsi-ld/v1/entities/urn:a:1/attrs/pm25"),
    ("PUT", "/ngsi-ld/v1/entities/urn:a:1/attrs/pm25"),
    ("DELETE", "/ngsi-ld/v1/entities/urn:a:1/attrs/pm25"),
    ("POST", "/ngsi-ld/v1/entityOperations/create"),
    ("POST", "/ngsi-ld/v1/entityOperations/upsert"),
    ("POST", "/ngsi-ld/v1/entityOperations/update"),
    ("POST", "/ngsi-ld/v1/entityOperations/merge"),
    ("POST", "/ngsi-ld/v1/entityOperations/delete"),
    ("POST", "/ngsi-ld/v1/entityOperations/query"),
    ("GET", "/ngsi-ld/v1/types"),
    ("GET", "/ngsi-ld/v1/types/AirQualityObserved"),
    ("GET", "/ngsi-ld/v1/attributes"),
    ("GET", "/ngsi-ld/v1/attributes/pm25"),
    ("GET", "/ngsi-ld/v1/jsonldContexts"),
    ("POST", "/ngsi-ld/v1/jsonldContexts"),
    ("POST", "/ngsi-ld/v1/subscriptions"),
    ("GET", "/ngsi-ld/v1/subscriptions"),
    ("PATCH", "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:1"),
    ("POST", "/ngsi-ld/v1/csourceRegistrations"),
    ("GET", "/ngsi-ld/v1/csourceRegistrations"),
    ("POST", "/ngsi-ld/v1/csourceSubscriptions"),
    ("POST", "/ngsi-ld/v1/temporal/entities"),
    ("GET", "/ngsi-ld/v1/temporal/entities"),
    ("GET", "/ngsi-ld/v1/temporal/entities/urn:a:1"),
    ("POST", "/ngsi-ld/v1/temporal/entities/urn:a:1/attrs"),
    ("POST", "/ngsi-ld/v1/temporal/entityOperations/query"),
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "type",
                    "value",
                    "object",
                    "pm25",
                    "location",
                    "datasetId",
                    "observedAt",
                    "languageMap",
                    "@context",
                    "entities",
                    "q",
                    "coordinates",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
param_names = st.sampled_from(
    [
        "georel",
        "geometry",
        "coordinates",
        "timerel",
        "timeAt",
        "lastN",
        "join",
        "orderBy",
        "unknownParam",
        "type",
        "q",
        "attrs",
        "id",
        "idPattern",
        "limit",
        "offset",
        "options",
        "format",
        "pick",
        "omit",
        "lang",
        "scopeQ",
        "count",
        "details",
        "datasetId",
        "deleteAll",
    ]
)
params = st.dictionaries(param_names, st.text(max_size=12), max_size=3)


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("fuzz")
    with make_client(path) as c:
        c.post("/ngsi-ld/v1/entities", json=entity("urn:a:1"))
        yield c


def _check(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status < 500, response.text  # type: ignore[attr-defined]
    if status >= 400:
        body = response.json()  # type: ignore[attr-defined]
        assert body["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
        assert body["detail"]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(ROUTES),
    body=json_values,
    query=params,
    ctype=st.sampled_from(
        ["application/json", "application/ld+json", "application/merge-patch+json", "text/plain"]
    ),
)
def test_json_bodies_never_500(
    shared_client: TestClient,
    route: tuple[str, str],
    body: object,
    query: dict[str, str],
    ctype: str,
) -> None:
    method, path = route
    content = orjson.dumps(body) if method in ("POST", "PATCH", "PUT") else None
    r = shared_client.request(
        method, path, content=content, params=query, headers={"content-type": ctype}
    )
    _check(r)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(ROUTES),
    raw=st.binary(max_size=40),
    link=st.sampled_from([None, "garbage", '<>; rel="http://www.w3.org/ns/json-ld#context"']),
    tenant=st.sampled_from([None, "", "ok", "bad tenant!"]),
)
def test_raw_bytes_and_headers_never_500(
    shared_client: TestClient,
    route: tuple[str, str],
    raw: bytes,
    link: str | None,
    tenant: str | None,
) -> None:
    method, path = route
    headers = {"content-type": "application/json"}
    if link is not None:
        headers["link"] = link
    if tenant is not None:
        headers["NGSILD-Tenant"] = tenant
    r = shared_client.request(method, path, content=raw, headers=headers)
    _check(r)
