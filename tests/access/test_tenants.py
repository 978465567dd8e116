"""Managed tenants (issue 20 item 1): the admin API and ``cityhub tenants``; once an operator
has created a tenant, a request naming any other tenant gets NonexistentTenant (ETSI GS CIM
009 table 6.3.2-1: 404); before that, tenants appear with their first write, as they always
did (the ETSI suite and the demo rely on it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cityhub.cli import cli
from tests.access.helpers import sensor

NONEXISTENT = "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant"
ENTITIES = "/ngsi-ld/v1/entities"


def test_unmanaged_tenants_appear_with_their_first_write(client: TestClient) -> None:
    created = client.post(ENTITIES, json=sensor("urn:x:1"), headers={"NGSILD-Tenant": "t1"})
    assert created.status_code == 201
    assert client.get(f"{ENTITIES}/urn:x:1", headers={"NGSILD-Tenant": "t1"}).status_code == 200
    assert client.get("/admin/tenants").json() == []


def test_managed_tenants_refuse_unknown_ones(client: TestClient) -> None:
    made = client.post("/admin/tenants", json={"name": "city1", "settings": {"rateLimit": 5}})
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == "/admin/tenants/city1"
    assert made.json()["settings"] == {"rateLimit": 5}
    ok = client.post(ENTITIES, json=sensor("urn:x:1"), headers={"NGSILD-Tenant": "city1"})
    assert ok.status_code == 201
    for method, path in (("POST", ENTITIES), ("GET", f"{ENTITIES}/urn:x:1")):
        response = client.request(
            method,
            path,
            json=sensor("urn:x:2") if method == "POST" else None,
            headers={"NGSILD-Tenant": "city2"},
        )
        assert response.status_code == 404, response.text
        assert response.json()["type"] == NONEXISTENT
        assert "city2" in response.json()["detail"]
    # nothing was written to the unknown tenant
    listing = client.get("/admin/tenants").json()
    assert [t["name"] for t in listing] == ["city1"]
    # the default tenant always exists
    assert client.post(ENTITIES, json=sensor("urn:x:3")).status_code == 201


def test_describe_update_delete(client: TestClient) -> None:
    client.post("/admin/tenants", json={"name": "t-a"})
    assert client.get("/admin/tenants/t-a").json()["keys"] == 0
    patched = client.patch("/admin/tenants/t-a", json={"settings": {"dailyQuota": 100}})
    assert patched.status_code == 200 and patched.json()["settings"] == {"dailyQuota": 100}
    assert client.delete("/admin/tenants/t-a").status_code == 204
    assert client.get("/admin/tenants/t-a").status_code == 404
    assert client.delete("/admin/tenants/t-a").status_code == 404
    again = client.post("/admin/tenants", json={"name": "t-a"})
    assert again.status_code == 201
    assert client.post("/admin/tenants", json={"name": "t-a"}).status_code == 409


@pytest.mark.parametrize(
    "name",
    ["../etc", "a/b", "a b", "x" * 65, "", "a\n", "café", "a%2Fb", "*", "a;DROP", None, 7],
)
def test_tenant_names_crafted_to_escape_are_refused(client: TestClient, name: object) -> None:
    response = client.post("/admin/tenants", json={"name": name})
    assert response.status_code == 400, response.text
    assert "tenant name" in response.json()["detail"]
    assert client.get("/admin/tenants").json() == []


@pytest.mark.parametrize("header", ["../etc", "a b", "x" * 65, "a%2Fb", "*"])
def test_tenant_headers_crafted_to_escape_are_refused(client: TestClient, header: str) -> None:
    client.post("/admin/tenants", json={"name": "city1"})
    response = client.get(f"{ENTITIES}?type=X", headers={"NGSILD-Tenant": header})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "settings",
    [
        {"rateLimit": -1},
        {"rateLimit": "fast"},
        {"burst": 0},
        {"dailyQuota": 1.5},
        {"retentionDays": True},
        {"colour": "red"},
        {"oidc": {"issuer": "https://id.example"}},
        {"oidc": {"issuer": "x", "jwksUri": "file:///etc/passwd"}},
        [],
    ],
)
def test_bad_tenant_settings_are_400(client: TestClient, settings: object) -> None:
    response = client.post("/admin/tenants", json={"name": "t", "settings": settings})
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_cli_tenants(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    made = runner.invoke(
        cli, ["tenants", "create", "city1", "--settings", '{"dailyQuota": 10}', "--store", store]
    )
    assert made.exit_code == 0, made.output
    assert "created tenant city1" in made.output
    listed = runner.invoke(cli, ["tenants", "list", "--store", store])
    assert "city1" in listed.output and '{"dailyQuota":10}' in listed.output
    described = runner.invoke(cli, ["tenants", "describe", "city1", "--store", store])
    assert "permissions 0" in described.output
    bad = runner.invoke(cli, ["tenants", "create", "../x", "--store", store])
    assert bad.exit_code == 1 and "tenant name" in bad.output
    dup = runner.invoke(cli, ["tenants", "create", "city1", "--store", store])
    assert dup.exit_code == 1 and "exists already" in dup.output
    gone = runner.invoke(cli, ["tenants", "delete", "city1", "--store", store])
    assert gone.exit_code == 0
    missing = runner.invoke(cli, ["tenants", "describe", "city1", "--store", store])
    assert missing.exit_code == 1 and "no managed tenant" in missing.output
