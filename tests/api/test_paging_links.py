"""Query Entities answers ``prev``/``next`` paging links (ETSI GS CIM 009 v1.8.1 clause 5.5.9
Pagination; HTTP binding clause 6.3.10: ``Link`` headers with rel="prev" and rel="next"),
locally and through a context source, on both backends."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.testclient import TestClient

from tests.federation.support import BASE, Source, create, federate, ok, register, vehicle


def _links(response: object) -> dict[str, dict[str, str]]:
    """rel -> the link's query parameters."""
    out = {}
    for value in response.headers.get_list("link"):  # type: ignore[attr-defined]
        target, *params = value.split(";")
        rel = next(p.split("=", 1)[1].strip('"') for p in params if p.strip().startswith("rel="))
        if rel in ("prev", "next"):
            out[rel] = dict(parse_qsl(urlsplit(target.strip("<> ")).query))
    return out


def test_pages_link_to_the_previous_and_next_page(client: TestClient) -> None:
    for n in range(5):
        create(client, vehicle(f"P{n}"))
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "2"})
    assert r.status_code == 200 and len(r.json()) == 2
    links = _links(r)
    assert "prev" not in links
    assert links["next"] == {"type": "Vehicle", "limit": "2", "offset": "2"}
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "2", "offset": "2"})
    assert _links(r) == {
        "prev": {"type": "Vehicle", "limit": "2", "offset": "0"},
        "next": {"type": "Vehicle", "limit": "2", "offset": "4"},
    }
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "2", "offset": "4"})
    assert len(r.json()) == 1 and _links(r) == {
        "prev": {"type": "Vehicle", "limit": "2", "offset": "2"}
    }
    # exactly one page full: no next page
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "5"})
    assert len(r.json()) == 5 and _links(r) == {}
    # the @context link is kept beside them
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "1"})
    rels = [v for v in r.headers.get_list("link") if "json-ld#context" in v]
    assert len(rels) == 1 and "next" in _links(r)


def test_a_distributed_query_links_past_the_sources_entities(client: TestClient) -> None:
    source = Source()
    federate(client, source, federation_timeout=0.5)
    create(client, vehicle("L1"))
    register(client)
    source.answer = ok([vehicle("R1"), vehicle("R2")])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "2"})
    assert [e["id"][-2:] for e in r.json()] == ["L1", "R1"]
    assert _links(r)["next"]["offset"] == "2"
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "limit": "2", "offset": "2"})
    assert [e["id"][-2:] for e in r.json()] == ["R2"]
    assert set(_links(r)) == {"prev"}
