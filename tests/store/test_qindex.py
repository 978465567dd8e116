"""The q value index (cityhub/store/sqlite/qindex.py) changes how equality terms are found,
never what they find: each query here runs with and without it (clause 4.9 semantics are the
compiled q's, see tests/store/test_q_compile.py), on entities of every attribute shape."""

from __future__ import annotations

import random
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.store import qvalues
from cityhub.store.sqlite import qindex
from tests.conftest import make_client

API = "/ngsi-ld/v1/entities"
WORDS = ["Jeongja", "Pangyo", "Seohyeon", "10", "urn:ngsi-ld:Park:1", "x" * 300]


def value(rnd: random.Random) -> Any:
    kind = rnd.randrange(6)
    if kind == 0:
        return rnd.choice(WORDS)
    if kind == 1:
        return rnd.choice([10, 10.0, 7, -3, 2.5])
    if kind == 2:
        return [rnd.choice(WORDS), rnd.choice([10, 7])]
    if kind == 3:
        return rnd.choice([True, False])
    if kind == 4:
        return {"nested": rnd.choice(WORDS)}
    return rnd.choice(WORDS[:3])


def attribute(rnd: random.Random) -> Any:
    kind = rnd.randrange(6)
    if kind == 0:
        return {"type": "Relationship", "object": rnd.choice(WORDS[4:5] + ["urn:ngsi-ld:Park:2"])}
    if kind == 1:
        return {"type": "LanguageProperty", "languageMap": {"ko": rnd.choice(WORDS[:3]), "en": "x"}}
    if kind == 2:
        return {
            "type": "ListRelationship",
            "objectList": [{"object": "urn:ngsi-ld:Park:1"}, {"object": "urn:ngsi-ld:Park:3"}],
        }
    if kind == 3:
        return [
            {"type": "Property", "value": value(rnd)},
            {"type": "Property", "value": value(rnd), "datasetId": "urn:ngsi-ld:Dataset:b"},
        ]
    if kind == 4:
        return {"type": "ListProperty", "valueList": [rnd.choice(WORDS), 10]}
    return {"type": "Property", "value": value(rnd)}


@pytest.fixture
def loaded(tmp_path: Path) -> Any:
    rnd = random.Random(11)
    with make_client(tmp_path) as client:
        batch = []
        for i in range(150):
            body: dict[str, Any] = {"id": f"urn:ngsi-ld:Thing:{i}", "type": rnd.choice("AB")}
            for name in ("p", "q", "r"):
                if rnd.random() < 0.85:
                    body[name] = attribute(rnd)
            batch.append(body)
        r = client.post("/ngsi-ld/v1/entityOperations/create", json=batch)
        assert r.status_code == 201, r.text
        # updates go through the index hook too
        for i in range(0, 150, 7):
            r = client.patch(f"{API}/urn:ngsi-ld:Thing:{i}/attrs", json={"p": attribute(rnd)})
            assert r.status_code in (204, 207)
        yield client


QUERIES = [
    'p=="Jeongja"',
    'p=="Pangyo";q=="Seohyeon"',
    "p==10",
    "q==10.0",
    'r=="urn:ngsi-ld:Park:1"',
    "r==urn:ngsi-ld:Park:1",
    'p=="Jeongja","Pangyo"',
    "p==7,10",
    'p=="10"',
    'q=="Seohyeon";r!="urn:ngsi-ld:Park:2"',
    "p==true",
    f'p=="{"x" * 300}"',
    'p.nested=="Jeongja"',
    'p=="Jeongja"|q=="Pangyo"',
]


def ids(client: TestClient, q: str, extra: str = "") -> list[str]:
    r = client.get(f"{API}?type=A,B&q={urllib.parse.quote(q)}&limit=1000{extra}")
    assert r.status_code == 200, r.text
    found = [e["id"] for e in r.json()]
    assert len(found) == len(set(found))  # an entity once, even with several matching rows
    paged = []  # and pages of 3 give the same set, each entity once
    while len(paged) < len(found) + 3:
        page = client.get(
            f"{API}?type=A,B&q={urllib.parse.quote(q)}&limit=3&offset={len(paged)}{extra}"
        ).json()
        paged.extend(e["id"] for e in page)
        if len(page) < 3:
            break
    assert sorted(paged) == sorted(found)
    r = client.get(f"{API}?type=A,B&q={urllib.parse.quote(q)}&limit=1&count=true{extra}")
    assert r.headers["NGSILD-Results-Count"] == str(len(found))
    return sorted(found)


@pytest.mark.parametrize("q", QUERIES)
def test_same_results_with_and_without_the_index(
    loaded: TestClient, q: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_index = ids(loaded, q)
    calls: list[str | None] = []
    real = qindex.driver

    def spy(node: Any, tenant: str, params: list[Any], **kwargs: Any) -> str | None:
        calls.append(real(node, tenant, [], **kwargs))  # would it drive? (params thrown away)
        return None

    real_from = qindex.driven_from

    def spy_from(node: Any, tenant: str, types: Any, params: list[Any]) -> str | None:
        calls.append(real_from(node, tenant, types, []))
        return None

    monkeypatch.setattr(qindex, "driver", spy)
    monkeypatch.setattr(qindex, "driven_from", spy_from)
    without = ids(loaded, q)
    assert with_index == without
    assert calls, "the store asked for a driver"
    if q in ('p=="Jeongja"', 'r=="urn:ngsi-ld:Park:1"', 'p=="Jeongja","Pangyo"'):
        assert calls[0] is not None and with_index  # these do use the index and find something
    if q in ("p==10", "q==10.0", "p==7,10"):  # numbers are not indexed: the scan finds them
        assert calls[0] is None and with_index


def test_deleted_and_replaced_attributes_leave_the_index(loaded: TestClient) -> None:
    client = loaded
    body = {"id": "urn:ngsi-ld:Thing:new", "type": "A", "p": {"type": "Property", "value": "Z1"}}
    assert client.post(API, json=body).status_code == 201
    assert ids(client, 'p=="Z1"') == ["urn:ngsi-ld:Thing:new"]
    r = client.patch(f"{API}/urn:ngsi-ld:Thing:new/attrs/p", json={"value": "Z2"})
    assert r.status_code == 204
    assert ids(client, 'p=="Z1"') == [] and ids(client, 'p=="Z2"') == ["urn:ngsi-ld:Thing:new"]
    assert client.delete(f"{API}/urn:ngsi-ld:Thing:new/attrs/p").status_code == 204
    assert ids(client, 'p=="Z2"') == []
    assert client.post(f"{API}/urn:ngsi-ld:Thing:new/attrs", json={"p": body["p"]}).status_code
    assert ids(client, 'p=="Z1"') == ["urn:ngsi-ld:Thing:new"]
    assert client.delete(f"{API}/urn:ngsi-ld:Thing:new").status_code == 204
    assert ids(client, 'p=="Z1"') == []


def test_instance_values_follow_the_compiled_candidates() -> None:
    # texts only (module docstring: numbers are what sensors rewrite on every update)
    assert qindex.instance_values({"type": "Property", "value": {"@value": 5}}) == set()
    assert qindex.instance_values({"type": "Property", "value": {"@value": "x"}}) == {"x"}
    assert qindex.instance_values({"type": "Property", "value": [1, "a", True, [2]]}) == {"a"}
    assert qindex.instance_values({"type": "Property", "value": {"k": "v"}}) == set()
    assert qindex.instance_values({"type": "Relationship", "object": "urn:a"}) == {"urn:a"}
    assert qindex.instance_values({"languageMap": {"ko": "가", "en": ["b"]}}) == {"가", "b"}
    assert qindex.instance_values({"objectList": [{"object": "urn:a"}, "junk"]}) == {"urn:a"}
    assert qindex.instance_values({"value": "y" * 257}) == set()


@pytest.mark.parametrize("seed", range(20))
def test_the_short_road_of_plain_values_finds_what_the_long_one_does(seed: int) -> None:
    # a number or a text in ``value`` skips the loop over the value members
    rnd = random.Random(seed)
    for _ in range(200):
        inst: dict[str, Any] = {"type": rnd.choice(["Property", "Relationship"])}
        for member in rnd.sample(["value", "object", "languageMap", "objectList"], 2):
            inst[member] = rnd.choice(
                [value(rnd), True, None, "y" * 257, {"@value": value(rnd)}, [{"object": "urn:a"}]]
            )
        assert qvalues.instance_values(inst) == qvalues._values(inst), inst


def test_an_equality_query_is_driven_by_the_covering_index(tmp_path: Path) -> None:
    import asyncio

    from cityhub.ngsild.query.q import parse_q
    from cityhub.store.base import EntityQuery
    from cityhub.store.sqlite.store import SqliteStore

    async def plan() -> list[str]:
        store = SqliteStore(str(tmp_path / "plan.db"))
        await store.start()
        try:
            q = parse_q('https://ex.org/name=="Jeongja";https://ex.org/n>3')
            query = EntityQuery(types=("https://ex.org/T",), q=q, limit=20)
            return await store.explain_query("", query)
        finally:
            await store.close()

    steps = " | ".join(asyncio.run(plan()))
    assert "COVERING INDEX q_index_by_value" in steps, steps
    assert "SCAN e" not in steps and "entity_types_by_id" not in steps.split("q_index")[0], steps


def test_rows_after_updates_are_those_a_fresh_fill_writes(tmp_path: Path) -> None:
    # the update hook rewrites only the attributes whose instances changed; whatever the
    # updates (one attribute, several, merge, replace, delete, new types), the table is what
    # indexing every entity afresh gives
    rnd = random.Random(5)
    with make_client(tmp_path) as client:
        batch = [
            {"id": f"urn:ngsi-ld:Thing:{i}", "type": "A", "p": attribute(rnd)} for i in range(40)
        ]
        assert client.post("/ngsi-ld/v1/entityOperations/create", json=batch).status_code == 201
        for _ in range(200):
            eid = f"urn:ngsi-ld:Thing:{rnd.randrange(40)}"
            kind = rnd.randrange(6)
            if kind == 0:
                r = client.patch(
                    f"{API}/{eid}/attrs", json={"p": attribute(rnd), "q": attribute(rnd)}
                )
            elif kind == 1:
                r = client.post(f"{API}/{eid}/attrs", json={rnd.choice("pqr"): attribute(rnd)})
            elif kind == 2:
                r = client.patch(f"{API}/{eid}", json={"r": attribute(rnd)})
            elif kind == 3:
                r = client.delete(f"{API}/{eid}/attrs/{rnd.choice('pqr')}")
            elif kind == 4:
                body = {"id": eid, "type": rnd.choice(["A", "B", ["A", "B"]]), "q": attribute(rnd)}
                r = client.post("/ngsi-ld/v1/entityOperations/upsert", json=[body])
            else:
                r = client.patch(f"{API}/{eid}/attrs/p", json={"value": rnd.choice(WORDS)})
            assert r.status_code in (201, 204, 207, 404), r.text
    conn = sqlite3.connect(tmp_path / "test.db")
    select = "SELECT tenant, attr, v, type, entity_id FROM q_index ORDER BY 1, 2, 3, 4, 5"
    kept = conn.execute(select).fetchall()
    conn.execute("DELETE FROM q_index")
    qindex.fill_q_index(conn)
    assert kept == conn.execute(select).fetchall()
    assert kept
