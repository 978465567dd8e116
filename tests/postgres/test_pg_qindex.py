"""PostgreSQL's q value index (migration 0018, cityhub/store/postgres/qindex.py) changes how
equality terms find their entities, never what they find (clause 4.9: the compiled q decides);
its SQL twin of the values (``cityhub_q_values``) is the Python rule's; and the bench
scenarios' queries keep using their indexes (the plan tests fail when one stops)."""

from __future__ import annotations

import asyncio
import random
import urllib.parse
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from starlette.testclient import TestClient

from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.geo import expand_geo, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.store.base import EntityQuery
from cityhub.store.postgres import qindex
from cityhub.store.postgres.migrate import migrations
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.qvalues import entity_values
from tests.conftest import make_client
from tests.store.test_qindex import QUERIES, attribute

API = "/ngsi-ld/v1/entities"
T = "https://uri.etsi.org/ngsi-ld/default-context/"


def _ids(client: TestClient, q: str) -> list[str]:
    r = client.get(f"{API}?type=A,B&q={urllib.parse.quote(q)}&limit=1000")
    assert r.status_code == 200, r.text
    found = [e["id"] for e in r.json()]
    assert len(found) == len(set(found))  # an entity once, even with several matching rows
    r = client.get(f"{API}?type=A,B&q={urllib.parse.quote(q)}&limit=1&count=true")
    assert r.headers["NGSILD-Results-Count"] == str(len(found))
    paged: list[str] = []
    while True:
        page = client.get(
            f"{API}?type=A,B&q={urllib.parse.quote(q)}&limit=4&offset={len(paged)}"
        ).json()
        paged.extend(e["id"] for e in page)
        if len(page) < 4:
            break
    assert sorted(paged) == sorted(found)
    return sorted(found)


def _write_everything(client: TestClient, rnd: random.Random) -> None:
    """Creates, partial updates, replaces, merges, type changes, deletes, a batch naming one
    entity twice: every way a change reaches the index hook."""
    batch = []
    for i in range(120):
        body: dict[str, Any] = {"id": f"urn:ngsi-ld:Thing:{i}", "type": rnd.choice("AB")}
        for name in ("p", "q", "r"):
            if rnd.random() < 0.85:
                body[name] = attribute(rnd)
        batch.append(body)
    r = client.post("/ngsi-ld/v1/entityOperations/create", json=batch)
    assert r.status_code == 201, r.text
    for i in range(0, 120, 7):
        r = client.patch(f"{API}/urn:ngsi-ld:Thing:{i}/attrs", json={"p": attribute(rnd)})
        assert r.status_code in (204, 207), r.text
    for i in range(1, 120, 11):
        r = client.patch(f"{API}/urn:ngsi-ld:Thing:{i}", json={"q": attribute(rnd)})  # merge
        assert r.status_code == 204, r.text
    for i in range(2, 120, 13):
        body = {"type": "B", "r": attribute(rnd)}
        r = client.put(f"{API}/urn:ngsi-ld:Thing:{i}", json=body)  # replace
        assert r.status_code == 204, r.text
    for i in range(3, 120, 17):
        r = client.delete(f"{API}/urn:ngsi-ld:Thing:{i}/attrs/p")
        assert r.status_code in (204, 404), r.text
    for i in range(4, 120, 19):
        r = client.delete(f"{API}/urn:ngsi-ld:Thing:{i}")
        assert r.status_code == 204, r.text
    twice = [
        {"id": "urn:ngsi-ld:Thing:5", "type": "A", "p": {"type": "Property", "value": "Pangyo"}},
        {"id": "urn:ngsi-ld:Thing:5", "type": "A", "p": {"type": "Property", "value": "Jeongja"}},
        {"id": "urn:ngsi-ld:Thing:500", "type": "B", "p": {"type": "Property", "value": "Pangyo"}},
    ]
    r = client.post("/ngsi-ld/v1/entityOperations/upsert?options=update", json=twice)
    assert r.status_code in (201, 204, 207), r.text
    r = client.post(f"{API}/urn:ngsi-ld:Thing:6/attrs", json={"scopeless": attribute(rnd)})
    assert r.status_code in (204, 207), r.text


@pytest.fixture
def loaded(tmp_path: Path, postgres_url: str) -> Any:
    with make_client(tmp_path, postgres_url) as client:
        _write_everything(client, random.Random(11))
        yield client


@pytest.mark.parametrize("q", QUERIES)
def test_same_results_with_and_without_the_index(
    loaded: TestClient, q: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_index = _ids(loaded, q)
    drove: list[bool] = []
    real = qindex.driver

    def spy(node: Any, tenant_param: str, types: Any, params: Any) -> str | None:
        drove.append(real(node, tenant_param, types, type(params)()) is not None)
        return None

    monkeypatch.setattr(qindex, "driver", spy)
    without = _ids(loaded, q)
    assert with_index == without
    assert drove, "the store asked for a driver"
    if q in ('p=="Jeongja"', 'r=="urn:ngsi-ld:Park:1"', 'p=="Jeongja","Pangyo"'):
        assert drove[0] and with_index  # these do use the index and find something


def _table(url: str) -> set[tuple[str, ...]]:
    async def run() -> set[tuple[str, ...]]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tenant, attr, v, type, entity_id FROM q_index")
            return {tuple(r) for r in rows}
        finally:
            await conn.close()

    return asyncio.run(run())


def _fresh_rows(url: str) -> set[tuple[str, ...]]:
    """What indexing every stored entity afresh gives, by the Python rule."""

    async def run() -> set[tuple[str, ...]]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tenant, id, types::text, attrs::text FROM entities")
        finally:
            await conn.close()
        out = set()
        for tenant, eid, types, attrs in rows:
            values = entity_values({"attrs": orjson.loads(attrs)})
            for attr, vs in values.items():
                out |= {(tenant, attr, v, t, eid) for v in vs for t in orjson.loads(types)}
        return out

    return asyncio.run(run())


def test_rows_after_every_kind_of_write_are_a_fresh_fill(tmp_path: Path, postgres_url: str) -> None:
    # no row missing (a missing row would hide an entity), none left over (a stale one costs)
    with make_client(tmp_path, postgres_url) as client:
        _write_everything(client, random.Random(3))
        other = {"id": "urn:x:1", "type": "C", "n": {"type": "Property", "value": "other"}}
        r = client.post(API, json=other, headers={"NGSILD-Tenant": "x"})
        assert r.status_code == 201, r.text
    table, fresh = _table(postgres_url), _fresh_rows(postgres_url)
    assert fresh, "the writes left texts to index"
    assert table == fresh


def test_a_rolled_back_batch_entity_leaves_no_rows(tmp_path: Path, postgres_url: str) -> None:
    # a batch whose second entity fails: the savepoint takes back its changes and their rows
    with make_client(tmp_path, postgres_url) as client:
        batch = [
            {"id": "urn:ngsi-ld:T:1", "type": "A", "p": {"type": "Property", "value": "keep"}},
            {"id": "urn:ngsi-ld:T:1", "type": "A", "p": {"type": "Property", "value": "dup"}},
        ]
        r = client.post("/ngsi-ld/v1/entityOperations/create", json=batch)
        assert r.status_code == 207, r.text
        r = client.get(f'{API}?type=A&q=p=="dup"')
        assert r.json() == []
        assert len(client.get(f'{API}?type=A&q=p=="keep"').json()) == 1
    assert {row[2] for row in _table(postgres_url)} == {"keep"}


VALUE_SHAPES: list[Any] = [
    "Jeongja",
    "",
    "x" * 256,
    "x" * 257,
    "가나다",
    10,
    2.5,
    True,
    None,
    ["a", 1, ["b"], {"c": "d"}, None, "e"],
    {"@value": "at"},
    {"@value": None, "k": "v"},
    {"@value": ["l1", 2]},
    {"@value": {"deep": "no"}},
    {"k": "v"},
    [],
]


def _instances(rnd: random.Random) -> list[Any]:
    shapes: list[Any] = []
    for v in VALUE_SHAPES:
        shapes.append({"type": "Property", "value": v})
        shapes.append({"type": "Property", "value": None, "object": v})
        shapes.append({"type": "Relationship", "object": v})
        shapes.append({"type": "VocabProperty", "vocab": v})
        shapes.append({"type": "JsonProperty", "json": v})
        shapes.append({"type": "ListProperty", "valueList": v})
        shapes.append({"type": "GeoProperty", "value": v})
        shapes.append({"type": "LanguageProperty", "languageMap": {"ko": v, "en": [v, "w"]}})
        shapes.append({"type": "LanguageProperty", "languageMap": v})
        shapes.append({"type": "ListRelationship", "objectList": [{"object": v}, v, {"o": v}]})
        shapes.append({"type": "ListRelationship", "objectList": v})
        shapes.append({"value": v, "object": "second", "languageMap": {"x": "lm"}})
    shapes += ["bare", 5, None, [1, "x"], {"type": ["GeoProperty"], "value": "listed type"}]
    rnd.shuffle(shapes)
    return shapes


def test_the_sql_values_are_the_python_values(postgres_url: str) -> None:
    # migration 0018 fills the table for stored entities with cityhub_q_values: it must give
    # exactly what the hub's Python writes for the same attributes
    rnd = random.Random(7)
    shapes = _instances(rnd)
    docs: list[Any] = [{f"a{i}": [s] for i, s in enumerate(shapes)}]
    for _ in range(40):
        docs.append({f"b{k}": rnd.sample(shapes, rnd.randrange(1, 4)) for k in range(5)})
    docs += [{"notalist": {"type": "Property", "value": "x"}}, {}, []]

    async def run() -> list[set[tuple[str, str]]]:
        store = PostgresStore(postgres_url)
        await store.start()  # the schema, with the function
        await store.close()
        conn = await asyncpg.connect(postgres_url)
        try:
            out = []
            for doc in docs:
                rows = await conn.fetch(
                    "SELECT attr, v FROM cityhub_q_values($1::jsonb)", orjson.dumps(doc).decode()
                )
                out.append({(r[0], r[1]) for r in rows})
            return out
        finally:
            await conn.close()

    for doc, got in zip(docs, asyncio.run(run()), strict=True):
        attrs = doc if isinstance(doc, dict) else {}
        want = {(a, v) for a, vs in entity_values({"attrs": attrs}).items() for v in vs}
        assert got == want, doc
    assert len(asyncio.run(run())[0]) > 30  # the shapes do give texts


def test_the_migration_fills_the_index_of_stored_entities(
    tmp_path: Path, postgres_url: str
) -> None:
    # a database at version 17 with entities (written as the release wrote them: no q_index),
    # then migrated: its rows are the Python rule's, and queries find the entities
    with make_client(tmp_path, postgres_url) as client:
        _write_everything(client, random.Random(5))
    fresh = _fresh_rows(postgres_url)
    (m18,) = [m for m in migrations() if m.version == 18]

    async def back_to_17_then_migrate() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(
                "DROP TABLE q_index; DROP FUNCTION cityhub_q_values(jsonb);"
                "DELETE FROM cityhub_migrations WHERE version = 18"
            )
        finally:
            await conn.close()
        store = PostgresStore(postgres_url)
        await store.start()
        await store.close()
        assert m18.name

    asyncio.run(back_to_17_then_migrate())
    assert _table(postgres_url) == fresh
    with make_client(tmp_path, postgres_url) as client:
        assert _ids(client, 'p=="Jeongja"') == sorted(
            {row[4] for row in fresh if row[2] == "Jeongja" and row[1] == T + "p"}
            & {e["id"] for e in client.get(f'{API}?type=A,B&limit=1000&q=p=="Jeongja"').json()}
        )


# ---- plans: the bench scenarios' queries keep their indexes -----------------------------------

N = 20_000


def _fill(url: str) -> None:
    """N entities shaped like bench/suite.py's (10 types, 100 names, 50 stations, points in
    Seongnam), written straight into the tables, indexes included, then ANALYZE."""
    rnd = random.Random(1)
    ents, types, shapes = [], [], []
    for i in range(N):
        eid = f"urn:ngsi-ld:BenchEntity:{i}"
        attrs = {
            T + "name": [{"type": "Property", "value": f"Station {i % 100}"}],
            T + "dissolvedOxygen": [{"type": "Property", "value": rnd.uniform(0, 100)}],
            T + "isContainedIn": [
                {"type": "Relationship", "object": f"urn:ngsi-ld:Station:{i % 50}"}
            ],
        }
        etype = T + f"BenchType{i % 10}"
        ents.append(
            ("", eid, orjson.dumps([etype]).decode(), "t", "t", orjson.dumps(attrs).decode())
        )
        types.append(("", etype, eid))
        x, y = rnd.uniform(127.03, 127.19), rnd.uniform(37.33, 37.47)
        shapes.append(("", eid, T + "location", f"POINT({x} {y})"))

    async def run() -> None:
        store = PostgresStore(url)
        await store.start()
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(
                "INSERT INTO entities (tenant, id, types, created_at, modified_at, attrs) "
                "VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb)",
                ents,
            )
            await conn.executemany("INSERT INTO entity_types VALUES ($1, $2, $3)", types)
            await conn.executemany(
                "INSERT INTO geo_shapes (tenant, entity_id, attr, geom, geog) VALUES ($1, $2, $3,"
                " ST_GeomFromText($4, 4326), ST_GeomFromText($4, 4326)::geography)",
                shapes,
            )
            await conn.execute(
                "INSERT INTO q_index SELECT e.tenant, q.attr, q.v, t.type, e.id FROM entities e,"
                " cityhub_q_values(e.attrs) q, jsonb_array_elements_text(e.types) t(type)"
            )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(run())


def _q(text: str) -> qast.Node:
    return qast.expand_q(parse_q(text), lambda t: T + t)


@pytest.fixture(scope="module")
def big(postgres_server: str) -> Any:
    from tests.postgres import server

    with server.throwaway_schema(postgres_server, "cityhub_test_qindex_plans") as url:
        _fill(url)
        yield url


def _plan_and_answer(url: str, query: EntityQuery) -> tuple[str, int]:
    async def run() -> tuple[str, int]:
        store = PostgresStore(url, migrate=False)
        await store.start()
        try:
            plan = await store.explain_query("", query)
            found = await store.query_entities("", query)
            return "\n".join(plan), len(found.entities)
        finally:
            await store.close()

    return asyncio.run(run())


def test_type_and_text_q_is_driven_by_the_value_index(big: str) -> None:
    # bench/suite.py "query type+q": a number range and a name; the name finds 200 entities of
    # the 20,000 by the index, all of BenchType3, instead of the 2,000 of the type walked
    query = EntityQuery(
        types=(T + "BenchType3",), q=_q('dissolvedOxygen>-1;name=="Station 13"'), limit=1000
    )
    plan, found = _plan_and_answer(big, query)
    assert found == N // 100
    assert "q_index_pkey" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "entity_types" not in plan, plan  # the index row carries the type


def test_type_and_relationship_q_is_driven_by_the_value_index(big: str) -> None:
    # bench/suite.py "query type+rel": a relationship's object
    query = EntityQuery(
        types=(T + "BenchType7",), q=_q('isContainedIn=="urn:ngsi-ld:Station:17"'), limit=1000
    )
    plan, found = _plan_and_answer(big, query)
    assert found == N // 50
    assert "q_index_pkey" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_geo_near_is_served_by_the_gist_index(big: str) -> None:
    # bench/suite.py "geo near 2 km": the geography GiST index, not a pass over every shape
    parsed = parse_geo_query("near;maxDistance==2000", "Point", "[127.1,37.4]", None)
    assert parsed is not None
    geo = expand_geo(parsed, lambda name: T + name)
    query = EntityQuery(types=(T + "BenchType3",), geo=geo, limit=1000)
    plan, found = _plan_and_answer(big, query)
    assert 0 < found < N // 10
    assert "geo_shapes_geog" in plan, plan
    assert "Seq Scan on geo_shapes" not in plan, plan


def test_a_q_without_an_indexable_term_reads_the_type(big: str) -> None:
    # a number range alone: the type index lists the candidates (the value index holds texts)
    query = EntityQuery(types=(T + "BenchType3",), q=_q("dissolvedOxygen>99.9"), limit=1000)
    plan, found = _plan_and_answer(big, query)
    assert "q_index" not in plan, plan
    assert 0 < found < N // 100


def test_a_rolled_back_savepoint_that_wrote_earlier_rows_writes_them_again(
    postgres_url: str,
) -> None:
    # query_ids inside a savepoint writes every pending change's rows, an earlier change's
    # too; the savepoint rolled back takes those with it, and they must be written again
    name = T + "name"

    def entity(eid: str, text: str) -> Any:
        return {
            "id": eid,
            "type": [T + "A"],
            "createdAt": "2026-12-07T00:00:00Z",
            "modifiedAt": "2026-12-07T00:00:00Z",
            "attrs": {name: [{"type": "Property", "value": text}]},
        }

    def job(tx: Any) -> None:
        tx.insert(entity("urn:ngsi-ld:A:1", "kept"))
        try:
            with tx.savepoint():
                tx.insert(entity("urn:ngsi-ld:A:2", "gone"))
                assert tx.query_ids(EntityQuery(types=(T + "A",), q=_q('name=="kept"'))) == [
                    "urn:ngsi-ld:A:1"
                ]
                raise RuntimeError("roll back")
        except RuntimeError:
            pass

    async def run() -> list[str]:
        store = PostgresStore(postgres_url)
        await store.start()
        try:
            await store.write("", job)
            found = await store.query_entities(
                "", EntityQuery(types=(T + "A",), q=_q('name=="kept"'), limit=10)
            )
            return [e["id"] for e in found.entities]
        finally:
            await store.close()

    assert asyncio.run(run()) == ["urn:ngsi-ld:A:1"]
    assert {row[2] for row in _table(postgres_url)} == {"kept"}
