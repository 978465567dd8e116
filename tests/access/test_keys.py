"""API keys (issue 20 item 2): shown once, stored hashed, prefix visible, expiry, revocation
that holds at once on every worker (each checks the store's version), and access control
that switches on with the first key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from cityhub.cli import cli
from tests.access.helpers import bearer, key_id, make_key, sensor
from tests.conftest import make_client

ENTITIES = "/ngsi-ld/v1/entities"


def test_open_until_the_first_key_then_closed(client: TestClient) -> None:
    assert client.post(ENTITIES, json=sensor("urn:x:1")).status_code == 201
    admin = make_key(client, name="ops", admin=True)
    refused = client.get(f"{ENTITIES}/urn:x:1")
    assert refused.status_code == 401
    assert "Bearer" in refused.headers["WWW-Authenticate"]
    assert refused.json()["title"] == "Unauthorized"
    assert client.get(f"{ENTITIES}/urn:x:1", headers=bearer(admin)).status_code == 200
    as_apikey = {"Authorization": f"ApiKey {admin}"}
    assert client.get(f"{ENTITIES}/urn:x:1", headers=as_apikey).status_code == 200
    # the admin API is closed too now
    assert client.get("/admin/keys").status_code == 401
    assert client.get("/admin/keys", headers=bearer(admin)).status_code == 200
    # health stays open
    assert client.get("/health").status_code == 200


def test_a_key_is_shown_once_and_stored_hashed(client: TestClient, tmp_path: Path) -> None:
    made = client.post("/admin/keys", json={"name": "ops", "admin": True})
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    doc = made.json()
    key = doc["key"]
    secret = key.split("_", 2)[2]
    assert key.startswith(doc["prefix"]) and doc["prefix"] == f"chk_{doc['keyId']}_"
    listing = client.get("/admin/keys", headers=bearer(key))
    one = client.get(f"/admin/keys/{doc['keyId']}", headers=bearer(key))
    for text in (listing.text, one.text):
        assert secret not in text and '"key"' not in text and "digest" not in text
    assert one.json()["prefix"] == doc["prefix"]
    if (tmp_path / "test.db").exists():  # SQLite: the file holds a salted digest only
        conn = sqlite3.connect(tmp_path / "test.db")
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
        assert rows and all(secret not in str(r) for r in rows)


def test_wrong_malformed_and_foreign_keys_are_refused(client: TestClient) -> None:
    admin = make_key(client, name="ops", admin=True)
    kid = key_id(admin)
    forged = f"chk_{kid}_{'A' * 43}"
    for header in (
        f"Bearer {forged}",
        "Bearer chk_short",
        f"ApiKey {admin[:-1]}",
        "Basic b3BzOnB3",
        "Bearer",
        f"Bearer {admin} extra",
    ):
        response = client.get(f"{ENTITIES}?type=X", headers={"Authorization": header})
        assert response.status_code == 401, (header, response.text)
        assert admin not in response.text and forged not in response.text
    client.post("/admin/tenants", json={"name": "city1"}, headers=bearer(admin))
    city = make_key(client, bearer(admin), name="app", tenant="city1")
    elsewhere = client.get(f"{ENTITIES}?type=X", headers=bearer(city))
    assert elsewhere.status_code == 403
    assert "city1" in elsewhere.json()["detail"]


def test_revocation_holds_at_once_on_every_worker(tmp_path: Path, store_url: str) -> None:
    """Two apps on one store stand for two workers: a key revoked through one is refused by
    the other on its very next request."""
    with make_client(tmp_path, store_url) as one, make_client(tmp_path, store_url) as two:
        admin = make_key(one, name="ops", admin=True)
        user = make_key(one, bearer(admin), name="user", admin=True)
        assert two.get(f"{ENTITIES}?type=X", headers=bearer(user)).status_code == 200
        revoked = one.delete(f"/admin/keys/{key_id(user)}", headers=bearer(admin))
        assert revoked.status_code == 204
        after = two.get(f"{ENTITIES}?type=X", headers=bearer(user))
        assert after.status_code == 401
        assert "revoked" in after.json()["detail"]
        assert one.delete(f"/admin/keys/{key_id(user)}", headers=bearer(admin)).status_code == 400
        assert one.delete("/admin/keys/nope", headers=bearer(admin)).status_code == 404


def test_an_expired_key_is_refused(client: TestClient) -> None:
    admin = make_key(client, name="ops", admin=True)
    old = make_key(client, bearer(admin), name="old", admin=True, expiresAt="2020-01-01T00:00:00Z")
    response = client.get(f"{ENTITIES}?type=X", headers=bearer(old))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    later = make_key(client, bearer(admin), name="n", admin=True, expiresAt="2999-01-01T00:00:00Z")
    assert client.get(f"{ENTITIES}?type=X", headers=bearer(later)).status_code == 200
    for bad in ("tomorrow", "2027-01-01T00:00:00", 5):
        made = client.post(
            "/admin/keys", json={"name": "x", "expiresAt": bad}, headers=bearer(admin)
        )
        assert made.status_code == 400, made.text


def test_revoking_every_key_does_not_open_the_hub(client: TestClient) -> None:
    admin = make_key(client, name="ops", admin=True)
    assert client.delete(f"/admin/keys/{key_id(admin)}", headers=bearer(admin)).status_code == 204
    assert client.get(f"{ENTITIES}?type=X").status_code == 401


def test_cli_keys(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--name", "ops", "--admin", "--store", store])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("chk_")
    secret = key.split("_", 2)[2]
    listed = runner.invoke(cli, ["keys", "list", "--store", store])
    assert listed.exit_code == 0 and key_id(key) in listed.output
    assert secret not in listed.output and "admin" in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", key, "--store", store])
    assert revoked.exit_code == 0 and secret not in revoked.output
    assert "revoked" in runner.invoke(cli, ["keys", "list", "--store", store]).output
    missing = runner.invoke(cli, ["keys", "revoke", "abc", "--store", store])
    assert missing.exit_code == 1
    with make_client(tmp_path, store) as client:
        assert client.get(f"{ENTITIES}?type=X", headers=bearer(key)).status_code == 401
