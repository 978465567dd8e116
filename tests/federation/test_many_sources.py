"""More matching registrations than one read asks (ETSI GS CIM 009 v1.8.1 clause 4.3.6 with
6.3.17 NGSILD-Warning), on both backends, against sources played by an ``httpx.MockTransport``.

A read asks at most ``federation_max_sources`` sources, the oldest matching registrations;
before, it asked the 50 oldest and left the rest out without a word, so a type query in a city
with more lazy IoT devices (one registration each) or more hubs than that passed for the whole
answer. Now the answer says how many matched and how many were asked. A write goes to every
registration that takes it, however many match (an exclusive one takes its attributes away
from this broker, so leaving it out would write where the registration forbids)."""

from __future__ import annotations

import httpx
from starlette.testclient import TestClient

from tests.federation.support import (
    BASE,
    VEHICLE,
    Source,
    create,
    federate,
    ok,
    prop,
    register,
    vehicle,
)

CAP = 3


def _capped(client: TestClient, source: Source) -> None:
    federate(client, source, federation_max_sources=CAP)


def _warnings(response: httpx.Response) -> list[str]:
    return response.headers.get_list("NGSILD-Warning")


def test_a_query_matching_more_registrations_than_it_asks_says_so(
    client: TestClient, source: Source
) -> None:
    _capped(client, source)
    for n in range(1, CAP + 3):  # five registrations of Vehicle
        register(client, n)
    source.answer = ok([])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 200, r.text
    assert len(source.requests) == CAP  # the three oldest were asked
    said = [w for w in _warnings(r) if "registrations match" in w]
    assert len(said) == 1, _warnings(r)
    assert f"{CAP + 2} context source registrations match" in said[0]
    assert f"the {CAP} oldest were asked" in said[0] and "federation_max_sources" in said[0]


def test_a_retrieve_matching_more_registrations_than_it_asks_says_so(
    client: TestClient, source: Source
) -> None:
    _capped(client, source)
    create(client, vehicle("M1", speed=prop(1)))
    for n in range(1, CAP + 2):
        register(client, n)
    source.answer = lambda request: httpx.Response(404)
    r = client.get(f"{BASE}/entities/{VEHICLE}M1")
    assert r.status_code == 200, r.text
    assert r.json()["speed"]["value"] == 1
    assert len(source.requests) == CAP
    assert any(f"{CAP + 1} context source registrations match" in w for w in _warnings(r))


def test_no_such_warning_when_every_matching_source_is_asked(
    client: TestClient, source: Source
) -> None:
    _capped(client, source)
    for n in range(1, CAP + 1):  # exactly the cap
        register(client, n)
    source.answer = ok([])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 200, r.text
    assert len(source.requests) == CAP
    assert not [w for w in _warnings(r) if "registrations match" in w], _warnings(r)


def test_a_write_goes_to_every_registration_that_takes_it(
    client: TestClient, source: Source
) -> None:
    """5.6.3.4 Append Attributes distributed: each inclusive registration that takes the
    write gets it, more of them than a read asks."""
    _capped(client, source)
    create(client, vehicle("M2", speed=prop(1)))
    for n in range(1, CAP + 3):
        register(client, n, operations=["redirectionOps"])
    source.answer = lambda request: httpx.Response(204)
    r = client.post(f"{BASE}/entities/{VEHICLE}M2/attrs", json={"speed": prop(2)})
    assert r.status_code == 204, r.text
    posts = [q for q in source.requests if q.method == "POST"]
    assert len(posts) == CAP + 2, [(q.method, str(q.url)) for q in source.requests]
