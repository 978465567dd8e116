"""A registration's management (ETSI GS CIM 009 clause 5.2.34 RegistrationManagementInfo:
``localOnly``, ``timeout``) and loops (clause 6.3.17 508 Loop Detected and the 199 warning
of Table 6.3.17-1; Table 6.3.18-2 Via), on both backends, against a context source played
by an ``httpx.MockTransport``."""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.testclient import TestClient

from tests.federation.support import (
    BASE,
    REG,
    VEHICLE,
    Source,
    create,
    federate,
    ok,
    prop,
    register,
    vehicle,
)


def test_a_local_only_registration_is_asked_with_local_true(
    client: TestClient, source: Source
) -> None:
    """5.2.34 localOnly: "If localOnly=true then distributed operations associated to this
    Context Source Registration will act only on data held directly by the registered
    Context Source itself (see clause 4.3.6.4)"; 4.3.6.4 asks for "a binding-specific
    mechanism to request operations only on the registered endpoint itself", which is the
    ``local`` parameter of clause 6.3.18. Reads and writes carry it; a registration without
    it is asked without it."""
    register(client, management={"localOnly": True}, mode="redirect", operations=["redirectionOps"])
    source.answer = ok(vehicle("L1", speed=prop(3)))
    r = client.get(f"{BASE}/entities/{VEHICLE}L1")
    assert r.status_code == 200 and r.json()["speed"]["value"] == 3
    source.answer = ok([vehicle("L1", speed=prop(3))])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert [e["id"] for e in r.json()] == [VEHICLE + "L1"]
    source.answer = lambda r: httpx.Response(204)
    r = client.patch(f"{BASE}/entities/{VEHICLE}L1/attrs", json={"speed": prop(4)})
    assert r.status_code == 204, r.text
    assert [s.url.params.get("local") for s in source.requests] == ["true"] * 3
    assert [s.url.params.get("type") for s in source.requests][1] == "Vehicle"

    client.delete(f"{BASE}/csourceRegistrations/{REG}1")
    register(client, 2, management={"localOnly": False})
    source.requests.clear()
    source.answer = ok(vehicle("L1", speed=prop(3)))
    client.get(f"{BASE}/entities/{VEHICLE}L1")
    (sent,) = source.requests
    assert "local" not in sent.url.params


def test_a_registrations_timeout_shortens_the_wait_for_its_source(
    client: TestClient, source: Source
) -> None:
    """5.2.34 timeout: "Maximum period of time in milliseconds which may elapse before a
    forwarded request is assumed to have failed": a source that never answers is given up
    after the registration's 100 ms, not the hub's federation_timeout (here 5 s), and the
    read answers what it has with the 199 warning of Table 6.3.17-1."""
    federate(client, source, federation_timeout=5.0)
    create(client, vehicle("T1", speed=prop(1)))
    register(client, management={"timeout": 100})
    source.hang = True
    started = time.monotonic()
    r = client.get(f"{BASE}/entities/{VEHICLE}T1")
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.json()["speed"]["value"] == 1
    assert r.headers["NGSILD-Warning"].startswith("199 ")
    assert "did not answer within 0.1 s" in r.headers["NGSILD-Warning"]
    assert elapsed < 3, elapsed


def test_a_registrations_timeout_never_exceeds_the_hubs(client: TestClient, source: Source) -> None:
    """The operator's federation_timeout bounds every source (issue 23: a source never
    stalls the hub); a registration cannot ask for more."""
    federate(client, source, federation_timeout=0.2)
    register(client, management={"timeout": 600_000})
    source.hang = True
    r = client.get(f"{BASE}/entities/{VEHICLE}T2")
    assert r.status_code == 404
    assert "did not answer within 0.2 s" in r.headers["NGSILD-Warning"]


@pytest.mark.parametrize("mode", ["redirect", "exclusive"])
def test_a_write_that_comes_back_to_a_proxied_registration_is_508(
    client: TestClient, source: Source, mode: str
) -> None:
    """6.3.17: 508 Loop Detected "in the case of an exclusive or redirect registration,
    where all of the data is held outside of the Context Broker and held in a single
    registered source" that leads back to this broker: a delete whose Via already names this
    broker, of an entity one redirect (or exclusive) registration holds whole, is refused
    with 508 and nothing is forwarded (the fork's D018_01)."""
    entities = [{"id": VEHICLE + "V1", "type": "Vehicle"}]
    register(client, mode=mode, information=[{"entities": entities}], operations=["redirectionOps"])
    identity = client.app.state.federation.identity  # type: ignore[attr-defined]
    r = client.delete(f"{BASE}/entities/{VEHICLE}V1", headers={"Via": f"1.1 {identity}"})
    assert r.status_code == 508, r.text
    body = r.json()
    assert body["status"] == 508 and r.headers["content-type"].startswith("application/")
    assert identity in body["detail"] and f"{REG}1" in body["detail"]
    assert source.requests == []
    # without the loop the same delete goes to the source
    source.answer = lambda r: httpx.Response(204)
    assert client.delete(f"{BASE}/entities/{VEHICLE}V1").status_code == 204
    assert [s.method for s in source.requests] == ["DELETE"]


def test_a_looping_write_an_inclusive_registration_shares_is_done_here(
    client: TestClient, source: Source
) -> None:
    """Table 6.3.18-2: the Via "is used when determining matching registrations": with an
    inclusive registration the data is also held here, so a write that came back is no 508
    but this broker's alone (the looping registration is not asked)."""
    create(client, vehicle("V2", speed=prop(1)))
    register(client, operations=["redirectionOps"])
    identity = client.app.state.federation.identity  # type: ignore[attr-defined]
    r = client.patch(
        f"{BASE}/entities/{VEHICLE}V2/attrs",
        json={"speed": prop(2)},
        headers={"Via": f"1.1 other, 1.1 {identity}"},
    )
    assert r.status_code == 204, r.text
    assert source.requests == []
    r = client.get(f"{BASE}/entities/{VEHICLE}V2", params={"local": "true"})
    assert r.json()["speed"]["value"] == 2


def test_a_registrations_cooldown_keeps_a_failed_source_out_for_that_long(
    client: TestClient, source: Source
) -> None:
    """5.2.34 cooldown: "Minimum period of time in milliseconds which shall elapse before
    attempting to make a subsequent forwarded request to the same endpoint after failure. If
    requests are received before the cooldown period has expired, a timeout error response
    for the registration is automatically returned": after one failure (the breaker needs
    five) the source is not asked for 30 s (a 199 warning instead), then asked again."""
    now = [1000.0]
    client.app.state.federation.breakers.clock = lambda: now[0]  # type: ignore[attr-defined]
    create(client, vehicle("C1", speed=prop(1)))
    register(client, management={"cooldown": 30_000})
    source.answer = lambda r: httpx.Response(500, text="down")
    r = client.get(f"{BASE}/entities/{VEHICLE}C1")
    assert r.status_code == 200 and r.headers["NGSILD-Warning"].startswith("299 ")
    now[0] += 29
    r = client.get(f"{BASE}/entities/{VEHICLE}C1")
    assert r.status_code == 200 and r.json()["speed"]["value"] == 1
    assert r.headers["NGSILD-Warning"].startswith("199 ")
    assert "management.cooldown" in r.headers["NGSILD-Warning"]
    assert len(source.requests) == 1
    now[0] += 2
    source.answer = ok(vehicle("C1", brandName=prop("b")))
    r = client.get(f"{BASE}/entities/{VEHICLE}C1")
    assert "NGSILD-Warning" not in r.headers and r.json()["brandName"]["value"] == "b"
    assert len(source.requests) == 2


def test_without_a_cooldown_a_failed_source_is_asked_again(
    client: TestClient, source: Source
) -> None:
    """Without management.cooldown one failure does not keep the source out (only the
    breaker's failures in a row do, docs/federation.md)."""
    register(client)
    source.answer = lambda r: httpx.Response(500, text="down")
    client.get(f"{BASE}/entities/{VEHICLE}C2")
    client.get(f"{BASE}/entities/{VEHICLE}C2")
    assert len(source.requests) == 2
