"""Audit retention (issue 20 item 5: lines older than ``audit_retention_days`` are deleted,
as history retention deletes old instances) and quotas shared by the workers of a PostgreSQL
store (item 4: N workers give a caller the rate once, not N times)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityhub.access.control import AccessControl
from tests.access.helpers import bearer, grant, key_id, make_key
from tests.conftest import make_client

ENTITIES = "/ngsi-ld/v1/entities"


def _control(client: TestClient) -> AccessControl:
    control: AccessControl = client.app.state.access  # type: ignore[attr-defined]
    return control


def test_audit_lines_older_than_the_retention_are_deleted(tmp_path: Path, store_url: str) -> None:
    with make_client(tmp_path, store_url, audit_retention_days=30) as client:
        control = _control(client)
        assert client.portal is not None
        call = client.portal.call
        # in 2100: the background run at start-up (today's cutoff) leaves them alone
        for day in ("2100-10-01", "2100-10-20", "2100-11-20", "2100-12-01"):
            line = functools.partial(
                control.store.append_audit,
                f"{day}T10:00:00.000Z",
                "",
                "key:k1",
                "write",
                "POST /ngsi-ld/v1/entities",
                ("urn:ngsi-ld:X:1",),
                201,
            )
            call(line)
        now = datetime(2100, 12, 7, tzinfo=UTC)
        assert call(functools.partial(control.prune, now)) == 2
        kept = call(functools.partial(control.audit_lines, None))
        assert [line.at[:10] for line in kept] == ["2100-11-20", "2100-12-01"]
        assert call(functools.partial(control.prune, now)) == 0


def test_no_retention_keeps_every_line(client: TestClient) -> None:
    control = _control(client)
    assert client.portal is not None
    old = functools.partial(
        control.store.append_audit, "2001-01-01T00:00:00Z", "", "anonymous", "write", "x", (), 204
    )
    client.portal.call(old)
    assert client.portal.call(control.prune) == 0
    assert len(client.portal.call(functools.partial(control.audit_lines, None))) == 1


@pytest.fixture
def two_workers(tmp_path: Path, postgres_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Two hubs on one PostgreSQL schema, as two workers are."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        make_client(tmp_path / "a", postgres_url) as a,
        make_client(tmp_path / "b", postgres_url) as b,
    ):
        yield a, b


def test_workers_of_a_postgresql_store_share_a_callers_rate(
    two_workers: tuple[TestClient, TestClient],
) -> None:
    a, b = two_workers
    admin = bearer(make_key(a, name="ops", admin=True))
    settings = {"rateLimit": 0.001, "burst": 4, "dailyQuota": 100}
    made = a.post("/admin/tenants", json={"name": "city1", "settings": settings}, headers=admin)
    assert made.status_code == 201, made.text
    key = make_key(a, admin, name="app", tenant="city1")
    grant(a, admin, tenant="city1", action="read", assignee={"key": key_id(key)})
    there = {**bearer(key), "NGSILD-Tenant": "city1"}
    statuses = [
        (a if n % 2 else b).get(f"{ENTITIES}?type=X", headers=there).status_code for n in range(8)
    ]
    # a burst of 4 in all, whichever worker serves: not 4 each
    assert statuses == [200] * 4 + [429] * 4, statuses
    other = make_key(a, admin, name="other", tenant="city1")
    grant(a, admin, tenant="city1", action="read", assignee={"key": key_id(other)})
    elsewhere = {**bearer(other), "NGSILD-Tenant": "city1"}
    assert b.get(f"{ENTITIES}?type=X", headers=elsewhere).status_code == 200  # its own bucket
    # the counters of past days go with the retention run; today's stay
    control = _control(a)
    assert a.portal is not None
    a.portal.call(control.prune)
    assert a.get(f"{ENTITIES}?type=X", headers=there).status_code == 429
