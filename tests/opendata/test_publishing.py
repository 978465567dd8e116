"""Publishing rules (issue 19 item 1): per tenant and type, managed at run time through the
admin API; nothing is public unless a rule says so; the open data routes serve their caller
as access control's public (docs/access.md: an anonymous caller, quotas per address,
credentials that do not hold are 401, managed tenants)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.access.helpers import bearer, make_key
from tests.opendata.helpers import publish, publish_city, seed


def _collections(client: TestClient, headers: dict[str, str] | None = None) -> list[str]:
    response = client.get("/ogcapi/collections", headers=headers or {})
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["collections"]]


def test_nothing_is_public_until_a_rule_says_so(client: TestClient) -> None:
    seed(client)
    assert _collections(client) == []
    assert client.get("/ogcapi/collections/AirQualityObserved/items").status_code == 404
    doc = publish(client, "AirQualityObserved", attributes=["pm25", "location"])
    assert doc["license"] == "CC-BY-4.0"
    assert doc["licenseUrl"] == "https://creativecommons.org/licenses/by/4.0/"
    assert doc["history"] is False
    assert doc["attributes"] == ["location", "pm25"]
    assert _collections(client) == ["AirQualityObserved"]


def test_rules_are_created_replaced_listed_and_removed(client: TestClient) -> None:
    first = client.put("/admin/publishing/AirQualityObserved", json={"history": True})
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == "/admin/publishing/AirQualityObserved"
    again = client.put(
        "/admin/publishing/AirQualityObserved",
        json={"license": "https://data.example/licence", "attribution": "성남시"},
    )
    assert again.status_code == 200
    assert again.json()["history"] is False  # a PUT replaces the whole rule
    assert again.json()["licenseUrl"] == "https://data.example/licence"
    assert again.json()["createdAt"] == first.json()["createdAt"]
    listed = client.get("/admin/publishing").json()
    assert [r["type"] for r in listed] == ["AirQualityObserved"]
    assert client.get("/admin/publishing/AirQualityObserved").json()["attribution"] == "성남시"
    assert client.delete("/admin/publishing/AirQualityObserved").status_code == 204
    assert client.delete("/admin/publishing/AirQualityObserved").status_code == 404
    assert client.get("/admin/publishing/AirQualityObserved").status_code == 404
    assert client.get("/admin/publishing").json() == []


def test_hostile_rules_are_refused_with_a_detail(client: TestClient) -> None:
    for body in (
        [],
        "x",
        {"attributes": "pm25"},
        {"attributes": ["bad name"]},
        {"attributes": [1]},
        {"license": "all rights reserved"},
        {"license": "javascript:alert(1)"},
        {"history": "yes"},
        {"keywords": "air"},
        {"keywords": [""]},
        {"title": "x" * 3000},
        {"datetimeAttribute": "a=b"},
        {"unknown": 1},
    ):
        response = client.put("/admin/publishing/AirQualityObserved", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["detail"]
    for name in ("bad%20type", "a%3Db", "%40id"):
        response = client.put(f"/admin/publishing/{name}", json={})
        assert response.status_code == 400, (name, response.text)
    bad_json = client.put(
        "/admin/publishing/X", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert client.put("/admin/publishing/X?tenant=..%2F", json={}).status_code == 400
    assert client.get("/admin/publishing").json() == []


def test_rules_are_per_tenant(client: TestClient) -> None:
    seed(client)
    seed(client, {"NGSILD-Tenant": "city2"})
    publish(client, "OffStreetParking")
    response = client.put("/admin/publishing/AirQualityObserved?tenant=city2", json={})
    assert response.status_code == 201
    assert _collections(client) == ["OffStreetParking"]
    assert _collections(client, {"NGSILD-Tenant": "city2"}) == ["AirQualityObserved"]
    city2 = client.get("/admin/publishing?tenant=city2").json()
    assert [(r["tenant"], r["type"]) for r in city2] == [("city2", "AirQualityObserved")]
    every = client.get("/admin/publishing").json()
    assert {(r["tenant"], r["type"]) for r in every} == {
        ("", "OffStreetParking"),
        ("city2", "AirQualityObserved"),
    }


def test_open_data_follows_access_control(client: TestClient) -> None:
    """Once access control is on, the admin API needs an administrator, the NGSI-LD API
    refuses the public, and the open data routes still serve it what is published (and only
    that); a key that does not hold is 401 there too; a managed tenant set is enforced."""
    seed(client)
    admin = bearer(make_key(client, name="ops", admin=True))
    assert client.put("/admin/publishing/AirQualityObserved", json={}).status_code == 401
    publish_city(client, admin)
    assert client.get("/ngsi-ld/v1/entities?type=AirQualityObserved").status_code == 401
    assert _collections(client) == ["AirQualityObserved", "OffStreetParking"]
    items = client.get("/ogcapi/collections/AirQualityObserved/items?limit=100").json()
    assert items["numberMatched"] == 5
    assert client.get("/ogcapi/collections/Camera/items").status_code == 404
    bad = client.get("/ogcapi/collections", headers=bearer("chk_nope_nope"))
    assert bad.status_code == 401
    # a tenant key is the public too in open data: it sees what is published, nothing more
    client.post("/admin/tenants", json={"name": "city1"}, headers=admin)
    key = bearer(make_key(client, admin, name="city1-app", tenant="city1"))
    there = {**key, "NGSILD-Tenant": "city1"}
    assert client.get("/ogcapi/collections", headers=there).json()["collections"] == []
    unknown = client.get("/ogcapi/collections", headers={"NGSILD-Tenant": "nowhere"})
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("NonexistentTenant")
    refused = client.put("/admin/publishing/X?tenant=nowhere", json={}, headers=admin)
    assert refused.status_code == 404
    # the admin actions are in the audit log; the public's reads are not
    audit = client.get("/admin/audit", headers=admin).json()
    assert any(line["target"] == "PUT /admin/publishing/AirQualityObserved" for line in audit)
    assert not any(line["target"].startswith("GET /ogcapi") for line in audit)


def test_the_public_has_a_quota_in_open_data(tmp_path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_client

    with make_client(tmp_path, store_url, rate_limit=1.0, rate_burst=2) as client:
        admin = bearer(make_key(client, name="ops", admin=True))
        publish_city(client, admin)
        statuses = [client.get("/ogcapi/collections").status_code for _ in range(4)]
        assert statuses[:2] == [200, 200]
        assert 429 in statuses
