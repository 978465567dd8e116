"""What a browser and a person meet (issue 22, item 6): CORS as a setting, complete ``Allow``
headers on 405 for every route, and answers at ``/ngsi-ld/v1`` and ``/``.

CORS: the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/#http-cors-protocol);
``Allow``: RFC 9110 section 15.5.6 (a 405 "MUST generate an Allow header field ... containing a
list of the target resource's currently supported methods"); the API root: ETSI GS CIM 009
clause 6.2 leaves its discovery out of scope, so the hub answers it with a home document.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.routing import Route as StarletteRoute
from starlette.testclient import TestClient

from cityhub.api import cors
from cityhub.api.home import RESOURCES
from cityhub.app import create_app
from cityhub.cli import cli
from cityhub.settings import Settings
from tests.conftest import entity, make_client

API = "/ngsi-ld/v1"
APP = "https://app.city.example"
PKG = Path(__file__).parent.parent.parent / "cityhub"
#: OPTIONS: no route takes it (without CORS), so every path answers it with a 405 and Allow
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def preflight(client: TestClient, path: str, method: str, headers: str, origin: str = APP) -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def _listed(value: str) -> set[str]:
    return {v.strip().lower() for v in value.split(",") if v.strip()}


# ---- CORS -------------------------------------------------------------------------------------


def test_cors_is_off_by_default(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.app.user_middleware == []  # type: ignore[attr-defined]
        answer = preflight(client, f"{API}/entities", "POST", "content-type")
        assert answer.status_code == 405  # no CORS: a preflight is an OPTIONS like any other
        assert "access-control-allow-origin" not in answer.headers
        got = client.get(f"{API}/types", headers={"Origin": APP})
        assert got.status_code == 200 and "access-control-allow-origin" not in got.headers


@pytest.fixture
def cors_client(tmp_path: Path) -> Any:
    with make_client(tmp_path, cors_origins=f"{APP}, http://localhost:3000") as client:
        yield client


def test_a_preflight_from_a_listed_origin_allows_the_ngsi_ld_headers(cors_client: Any) -> None:
    answer = preflight(
        cors_client, f"{API}/entities", "POST", "content-type, link, ngsild-tenant, authorization"
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == APP
    assert {"get", "post", "put", "patch", "delete"} <= _listed(
        answer.headers["access-control-allow-methods"]
    )
    allowed = _listed(answer.headers["access-control-allow-headers"])
    assert {"content-type", "link", "ngsild-tenant", "accept", "authorization"} <= allowed
    assert int(answer.headers["access-control-max-age"]) > 0
    assert "origin" in _listed(answer.headers["vary"])
    patch = preflight(cors_client, f"{API}/entities/urn:ngsi-ld:T:1/attrs", "PATCH", "link")
    assert patch.status_code == 200
    local = preflight(cors_client, f"{API}/entities", "GET", "", origin="http://localhost:3000")
    assert local.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_answers_to_a_listed_origin_expose_the_ngsi_ld_headers(cors_client: Any) -> None:
    created = cors_client.post(f"{API}/entities", json=entity(), headers={"Origin": APP})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == APP
    exposed = _listed(created.headers["access-control-expose-headers"])
    assert {"location", "link", "ngsild-results-count", "ngsild-tenant"} <= exposed
    counted = cors_client.get(
        f"{API}/entities",
        params={"type": "AirQualityObserved", "count": "true"},
        headers={"Origin": APP},
    )
    assert counted.headers["ngsild-results-count"] == "1"
    assert counted.headers["access-control-allow-origin"] == APP
    # a ProblemDetails too: the page must be able to read why its request failed
    missing = cors_client.get(f"{API}/entities/urn:ngsi-ld:T:none", headers={"Origin": APP})
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == APP
    assert "origin" in _listed(missing.headers["vary"])


def test_an_answer_to_a_request_without_origin_varies_by_origin(cors_client: Any) -> None:
    """curl, servers and devices send no Origin: no CORS headers, but ``Vary: Origin``, so a
    shared cache does not give that answer to a browser."""
    for response in (
        cors_client.get(f"{API}/types"),
        cors_client.get(f"{API}/entities/urn:ngsi-ld:T:none"),  # a ProblemDetails too
        cors_client.post(f"{API}/entities", json=entity()),
    ):
        assert "origin" in _listed(response.headers["vary"]), response.headers
        assert not any(h.startswith("access-control-") for h in response.headers)


def test_a_refused_preflight_is_a_problem_saying_why(cors_client: Any) -> None:
    other = preflight(
        cors_client, f"{API}/entities", "POST", "content-type", "https://evil.example"
    )
    assert other.status_code == 400
    assert other.headers["content-type"] == "application/json"
    assert "access-control-allow-origin" not in other.headers
    detail = other.json()["detail"]
    assert "https://evil.example" in detail and "cors_origins" in detail
    header = preflight(cors_client, f"{API}/entities", "POST", "content-type, X-Secret")
    assert header.status_code == 400 and "X-Secret" in header.json()["detail"]
    assert "Link" not in header.json()["detail"]


def test_a_page_on_any_origin_with_a_star(tmp_path: Path) -> None:
    with make_client(tmp_path, cors_origins="*") as client:
        answer = preflight(client, f"{API}/entities", "POST", "content-type, link", "https://a.b")
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "*"
        got = client.get(f"{API}/types", headers={"Origin": "https://a.b"})
        assert got.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "bad", ["https://app.example/", "app.example", "https://app.example/path", "ftp://x", "*x"]
)
def test_a_setting_that_is_not_an_origin_is_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        create_app(Settings(store=f"sqlite:///{tmp_path / 'c.db'}", cors_origins=bad))
    result = CliRunner().invoke(
        cli,
        ["serve", "--db", str(tmp_path / "c.db"), "--get", "/health"],
        env={"CITYHUB_CORS_ORIGINS": bad},
    )
    assert result.exit_code == 2 and "is not an origin" in result.output


def test_every_ngsi_ld_header_the_api_sends_is_exposed() -> None:
    """A header the hub starts to send must be added to EXPOSED_HEADERS, or pages on other
    origins cannot read it."""
    sent: set[str] = set()
    for path in (PKG / "api").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(
                    r"NGSILD-[A-Za-z-]+|Location|Link|Content-Range|Retry-After|Allow", node.value
                ):
                    sent.add(node.value.lower())
    assert {"ngsild-results-count", "location"} <= sent
    assert sent <= {h.lower() for h in cors.EXPOSED_HEADERS}, sent


# ---- Allow on 405, for every route ------------------------------------------------------------


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "urn:ngsi-ld:X:1", template)


#: paths whose GET answer never ends (the dashboard's Server-Sent Events): GET is not tried
STREAMS = {"/dashboard/feed"}


def test_every_405_names_every_method_its_path_takes(tmp_path: Path) -> None:
    """For each route's path, the methods that do not answer 405 are exactly the ones a 405
    there lists in Allow (tried with every method, on an empty store)."""
    with make_client(tmp_path) as client:
        paths = sorted(
            {_concrete(r.path) for r in client.app.routes if isinstance(r, StarletteRoute)}  # type: ignore[attr-defined]
        )
        assert f"{API}/entities" in paths and len(paths) > 20
        checked = set()
        for path in paths:
            statuses = {
                m: client.request(m, path, json=[] if m in ("POST",) else None)
                for m in METHODS
                if not (m == "GET" and path in STREAMS)
            }
            taken = {m for m, r in statuses.items() if r.status_code != 405}
            if path in STREAMS:
                taken.add("GET")
            for method, response in statuses.items():
                if response.status_code == 405:
                    allow = {a.strip() for a in response.headers["allow"].split(",")}
                    assert allow == taken, (path, method, allow, taken)
                    if method != "HEAD":  # a HEAD answer has no body
                        assert response.json()["status"] == 405
                    checked.add(path)
        assert checked == set(paths)  # every path answered one 405 at least (OPTIONS)


def test_entities_allows_what_its_four_routes_take(tmp_path: Path) -> None:
    """Starlette named the first route's methods only: ``Allow: POST``."""
    with make_client(tmp_path) as client:
        answer = client.request("OPTIONS", f"{API}/entities")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, HEAD, POST, PUT, PATCH, DELETE"
        assert "takes GET, HEAD, POST" in answer.json()["detail"]


# ---- /ngsi-ld/v1 and / --------------------------------------------------------------------


def test_the_api_root_lists_its_resources(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        for path in (API, f"{API}/"):
            answer = client.get(path)
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json"
            body = answer.json()
            assert body["name"] == "cityhub" and body["resources"] == RESOURCES
        templates = [r.path for r in client.app.routes if isinstance(r, StarletteRoute)]  # type: ignore[attr-defined]
        for name, path in RESOURCES.items():  # each one is served
            assert any(t == path or t.startswith(path + "/") for t in templates), name
        assert client.get(RESOURCES["types"]).status_code == 200
        assert client.head(API).status_code == 200


def test_the_hub_root_points_at_the_api(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        answer = client.get("/")
        assert answer.status_code == 200 and answer.json()["api"] == API
        assert "dashboard" in answer.json()["note"]
        missing = client.get(f"{API}/nowhere")
        assert missing.status_code == 404 and f"GET {API} lists" in missing.json()["detail"]


def test_routes_outside_the_api_are_never_tried_for_an_api_path(tmp_path: Path) -> None:
    """``/`` and ``/ngsi-ld/v1`` take no parameter, so no path under ``/ngsi-ld/v1/`` can match
    them: the indexed router must not try them (they cost every retrieve two regular
    expressions until it did not; docs/performance.md, change 32)."""
    with make_client(tmp_path) as client:
        router = client.app.router  # type: ignore[attr-defined]
        for method, head, more in (("GET", "entities", True), ("GET", "types", False)):
            tried = router._for(method, head, more)
            assert tried and all(r.path.startswith(f"{API}/") for r in tried), tried
