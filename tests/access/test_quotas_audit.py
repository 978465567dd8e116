"""Quotas per caller and the audit log (issue 20 items 4-5): a token bucket and a daily quota
(429 with Retry-After), a tenant's own limits over the hub's; every write and admin action in
an append-only log (who, when, what ids, never payloads) that an administrator queries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityhub.access.quotas import Quotas
from cityhub.errors import TooManyRequests
from cityhub.settings import Settings
from tests.access.helpers import bearer, grant, key_id, make_key, sensor
from tests.conftest import make_client

ENTITIES = "/ngsi-ld/v1/entities"


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0
        self.day = datetime(2026, 12, 7, 23, 59, 0, tzinfo=UTC)


def test_token_bucket() -> None:
    clock = _Clock()
    quotas = Quotas(Settings(rate_limit=2.0, rate_burst=3), clock=lambda: clock.t)
    for _ in range(3):
        quotas.spend("key:a", {})
    with pytest.raises(TooManyRequests) as caught:
        quotas.spend("key:a", {})
    assert caught.value.retry_after == 1
    quotas.spend("key:b", {})  # another caller has its own bucket
    clock.t += 0.5  # one token back at 2 per second
    quotas.spend("key:a", {})
    with pytest.raises(TooManyRequests):
        quotas.spend("key:a", {})
    # a tenant's own limit wins over the hub's
    for _ in range(10):
        quotas.spend("key:c", {"rateLimit": 1000, "burst": 10})


def test_daily_quota_renews_at_utc_midnight() -> None:
    clock = _Clock()
    quotas = Quotas(Settings(daily_quota=2), now=lambda: clock.day)
    quotas.spend("key:a", {})
    quotas.spend("key:a", {})
    with pytest.raises(TooManyRequests) as caught:
        quotas.spend("key:a", {})
    assert caught.value.retry_after == 60 and "2026-12-08T00:00:00Z" in caught.value.detail
    clock.day = datetime(2026, 12, 8, 0, 0, 1, tzinfo=UTC)
    quotas.spend("key:a", {})
    with pytest.raises(TooManyRequests):
        quotas.spend("key:a", {"dailyQuota": 1})


def test_a_tenants_rate_is_429_with_retry_after(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    client.post(
        "/admin/tenants",
        json={"name": "city1", "settings": {"rateLimit": 0.01, "burst": 2}},
        headers=admin,
    )
    key = make_key(client, admin, name="app", tenant="city1")
    grant(client, admin, tenant="city1", action="read", assignee={"key": key_id(key)})
    there = {**bearer(key), "NGSILD-Tenant": "city1"}
    assert client.get(f"{ENTITIES}?type=X", headers=there).status_code == 200
    assert client.get(f"{ENTITIES}?type=X", headers=there).status_code == 200
    refused = client.get(f"{ENTITIES}?type=X", headers=there)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["status"] == 429 and "per second" in refused.json()["detail"]
    # the administrator is not rate-limited
    admin_there = {**admin, "NGSILD-Tenant": "city1"}
    for _ in range(5):
        assert client.get(f"{ENTITIES}?type=X", headers=admin_there).status_code == 200


def test_the_audit_log_records_writes_and_admin_actions(client: TestClient) -> None:
    made = client.post("/admin/keys", json={"name": "ops", "admin": True})
    admin = bearer(made.json()["key"])
    writer_key = make_key(client, admin, name="w")
    grant(client, admin, action="write", assignee={"key": key_id(writer_key)})
    writer = bearer(writer_key)
    secret_value = "do-not-log-this-payload"
    body = sensor("urn:x:1", note={"type": "Property", "value": secret_value})
    assert client.post(ENTITIES, json=body, headers=writer).status_code == 201
    assert client.get(f"{ENTITIES}/urn:x:1", headers=writer).status_code == 200
    patch = {"note": {"type": "Property", "value": secret_value}}
    assert client.patch(f"{ENTITIES}/urn:x:1/attrs", json=patch, headers=writer).status_code == 204
    batch = client.post(
        "/ngsi-ld/v1/entityOperations/upsert",
        json=[sensor("urn:x:2"), sensor("urn:x:3")],
        headers=writer,
    )
    assert batch.status_code == 201
    assert client.delete(f"{ENTITIES}/urn:x:404", headers=writer).status_code == 404
    assert client.get("/admin/audit").status_code == 401
    assert client.get("/admin/audit", headers=writer).status_code == 403
    lines = client.get("/admin/audit", headers=admin).json()
    assert secret_value not in str(lines)
    writes = [(line["actor"], line["target"], line["ids"], line["status"]) for line in lines]
    actor = f"key:{key_id(writer_key)}"
    assert (actor, "POST /ngsi-ld/v1/entities", ["urn:x:1"], 201) in writes
    assert (actor, "PATCH /ngsi-ld/v1/entities/urn:x:1/attrs", ["urn:x:1"], 204) in writes
    assert (
        actor,
        "POST /ngsi-ld/v1/entityOperations/upsert",
        ["urn:x:2", "urn:x:3"],
        201,
    ) in writes
    assert (actor, "DELETE /ngsi-ld/v1/entities/urn:x:404", ["urn:x:404"], 404) in writes
    assert not any(line["target"].startswith("GET /ngsi-ld") for line in lines)
    # admin actions: the first key (made while open) and the permission
    assert lines[0]["target"] == "POST /admin/keys" and lines[0]["actor"] == "anonymous"
    assert any(line["target"] == "POST /admin/permissions" for line in lines)
    # paging by sequence number
    after = client.get(f"/admin/audit?after={lines[1]['seq']}&limit=2", headers=admin).json()
    assert [line["seq"] for line in after] == [lines[2]["seq"], lines[3]["seq"]]
    for bad in ("after=-1", "limit=0", "limit=5000", "after=x", "tenant=../x"):
        assert client.get(f"/admin/audit?{bad}", headers=admin).status_code == 400, bad


def test_an_open_hub_writes_no_audit_lines_for_entities(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.post(ENTITIES, json=sensor("urn:x:1")).status_code == 201
        assert client.get("/admin/audit").json() == []
