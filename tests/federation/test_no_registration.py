"""A hub that federates with no one answers without asking its registrations each time
(store/registrations.py: a tenant known to hold none, on a store no other process writes), and
a registration created afterwards is used at once (ETSI GS CIM 009 v1.8.1 clause 5.9.2: a
registration takes effect when created; clause 4.3.6 distributed retrieval)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.federation.support import BASE, REG, VEHICLE, Source, create, ok, prop, register, vehicle


def test_a_registration_created_after_reads_without_one_is_used(
    client: TestClient, source: Source
) -> None:
    create(client, vehicle("A", speed=prop(10)))
    for _ in range(3):
        assert client.get(f"{BASE}/entities/{VEHICLE}A").status_code == 200
        found = client.get(f"{BASE}/csourceRegistrations", params={"type": "Vehicle"})
        assert found.json() == []
    assert source.requests == []
    register(client, 1)
    found = client.get(f"{BASE}/csourceRegistrations", params={"type": "Vehicle"})
    assert [r["id"] for r in found.json()] == [REG + "1"]
    source.answer = ok(vehicle("A", speed=prop(42, observedAt="2030-01-01T00:00:00Z")))
    r = client.get(f"{BASE}/entities/{VEHICLE}A")
    assert len(source.requests) == 1, "a registration created after reads that found none"
    assert r.json()["speed"]["value"] == 42
