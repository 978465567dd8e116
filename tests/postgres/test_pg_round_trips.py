"""Round trips of the entity API's writes on PostgreSQL (issue 21, item 3: the cost of a write is
the hub's per statement): the history's head row goes to the database in the statement that
writes the change's instances, and alone only when the change recorded none; the temporal API
answers the same either way (ETSI GS CIM 009 v1.9.1 clauses 5.6.1-5.6.3, 5.7.3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.settings import Settings

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
EID = "urn:ngsi-ld:Bench:1"


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the hub sends (asyncpg's calls, one round trip each)."""
    from asyncpg import connection

    sent: list[str] = []
    for name in ("execute", "fetch", "fetchrow", "fetchval", "executemany"):
        original = getattr(connection.Connection, name)

        def counted(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            sent.append(" ".join(str(query).split()))
            return _original(self, query, *args, **kw)

        monkeypatch.setattr(connection.Connection, name, counted)
    return sent


@pytest.fixture
def client(postgres_url: str) -> Iterator[TestClient]:
    # no city services: their background work (the alert engine's queue) would be counted
    settings = Settings(
        store=postgres_url,
        airquality_service=False,
        indicators_service=False,
        alerts_service=False,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _body(eid: str = EID, **attrs: Any) -> dict[str, Any]:
    return {"id": eid, "type": "BenchType", **attrs}


def _version_reads(sent: list[str], first: str) -> list[str]:
    """Statements of their own reading the subscriptions' version in the write transaction
    whose first statement holds ``first`` (the app's start-up work reads it on its own)."""
    start = next(i for i, s in enumerate(sent) if first in s)
    end = sent.index("COMMIT;", start)
    return [s for s in sent[start:end] if s.startswith("SELECT version FROM notify_version")]


def _head_writes(sent: list[str]) -> list[str]:
    return [s for s in sent if "temporal_entities" in s]


def test_a_create_and_an_update_write_the_head_with_the_instances(
    client: TestClient, statements: list[str]
) -> None:
    temperature = {"type": "Property", "value": 20.5, "observedAt": "2026-12-07T10:00:00Z"}
    statements.clear()
    assert client.post(E, json=_body(temperature=temperature)).status_code == 201
    heads = _head_writes(statements)
    assert len(heads) == 1 and "INSERT INTO history_instances" in heads[0], heads
    assert not _version_reads(statements, "INSERT INTO entities"), statements  # in it
    created = len(statements)
    statements.clear()
    patch = {"value": 21.5, "observedAt": "2026-12-07T10:01:00Z"}
    assert client.patch(f"{E}/{EID}/attrs/temperature", json=patch).status_code == 204
    heads = _head_writes(statements)
    assert len(heads) == 1 and "INSERT INTO history_instances" in heads[0], heads
    assert not _version_reads(statements, "FOR UPDATE"), statements  # in the locking read
    assert len(statements) < created
    got = client.get(f"{T}/{EID}", params={"options": "temporalValues"})
    assert got.status_code == 200, got.text
    values = got.json()["temperature"]["values"]
    assert [v[0] for v in values] == [20.5, 21.5]


def test_a_change_without_instances_still_writes_its_head(
    client: TestClient, statements: list[str]
) -> None:
    """An entity created without attributes records no instance: its head goes alone, and the
    temporal API finds the entity; a second type rewrites it (clause 5.6.3: types of the
    temporal representation)."""
    statements.clear()
    assert client.post(E, json=_body()).status_code == 201
    heads = _head_writes(statements)
    assert len(heads) == 1 and "history_instances" not in heads[0], heads
    got = client.get(f"{T}/{EID}")
    assert got.status_code == 200, got.text
    assert got.json()["type"] == "BenchType"
    speed = {"type": "Property", "value": 1, "observedAt": "2026-12-07T10:00:00Z"}
    both = {"type": ["BenchType", "Other"], "speed": speed}
    assert client.post(f"{E}/{EID}/attrs", json=both).status_code == 204
    got = client.get(f"{T}/{EID}")
    assert sorted(got.json()["type"]) == ["BenchType", "Other"]
    listed = client.get(
        T, params={"type": "Other", "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"}
    )
    assert [e["id"] for e in listed.json()] == [EID]


def test_a_batch_writes_each_entitys_head_once(client: TestClient, statements: list[str]) -> None:
    """A batch upsert of several entities: one head with each entity's instances, none left
    over, and the temporal API lists every entity."""
    reading = {"type": "Property", "value": 3, "observedAt": "2026-12-07T10:00:00Z"}
    batch = [_body(f"urn:ngsi-ld:Bench:{i}", speed=reading) for i in range(5)]
    statements.clear()
    assert client.post(f"{E[:-9]}/entityOperations/upsert", json=batch).status_code == 201
    heads = _head_writes(statements)
    assert all("INSERT INTO history_instances" in h for h in heads), heads
    listed = client.get(
        T, params={"type": "BenchType", "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"}
    )
    assert sorted(e["id"] for e in listed.json()) == sorted(b["id"] for b in batch)


def test_a_retrieve_is_one_round_trip(client: TestClient, statements: list[str]) -> None:
    """A hub holding no context source registration answers a retrieve by id with the
    entity's read alone: which tenants hold none is kept (registration_watch.py), as on
    SQLite, instead of asked on every request (clause 5.12: no registration, nothing to
    forward)."""
    speed = {"type": "Property", "value": 3, "observedAt": "2026-12-07T10:00:00Z"}
    assert client.post(E, json=_body(speed=speed)).status_code == 201
    assert client.get(f"{E}/{EID}").status_code == 200  # the first asks once
    statements.clear()
    got = client.get(f"{E}/{EID}")
    assert got.status_code == 200 and got.json()["speed"]["value"] == 3
    # (access control rereads its version once a second on an idle hub: not this request's)
    sent = [s for s in statements if "access_version" not in s]
    assert len(sent) == 1 and "FROM entities" in sent[0], statements


def test_a_good_batch_sends_no_savepoint(client: TestClient, statements: list[str]) -> None:
    """A batch's entities each run as if in a savepoint (clause 5.6.7: one entity's error
    leaves the others written), but none is sent while none fails: two round trips an entity
    fewer, and no subtransaction per entity."""
    reading = {"type": "Property", "value": 3, "observedAt": "2026-12-07T10:00:00Z"}
    batch = [_body(f"urn:ngsi-ld:Bench:{i}", speed=reading) for i in range(5)]
    statements.clear()
    assert client.post(f"{E[:-9]}/entityOperations/upsert", json=batch).status_code == 201
    assert not [s for s in statements if "SAVEPOINT" in s], statements
    got = client.get(E, params={"type": "BenchType", "limit": 10})
    assert sorted(e["id"] for e in got.json()) == sorted(b["id"] for b in batch)


def test_an_entity_refused_after_writing_runs_the_batch_again_with_savepoints(
    client: TestClient, statements: list[str]
) -> None:
    """A batch create whose second entity exists: the first attempt, without savepoints, is
    rolled back whole once that entity's insert was refused, and the batch runs again with a
    savepoint each; the answer and the stored rows are those of one run (one history instance
    per entity written, none for the refused one)."""
    reading = {"type": "Property", "value": 1, "observedAt": "2026-12-07T10:00:00Z"}
    taken = {"type": "Property", "value": 9, "observedAt": "2026-12-07T09:00:00Z"}
    assert client.post(E, json=_body("urn:ngsi-ld:Bench:2", speed=taken)).status_code == 201
    batch = [_body(f"urn:ngsi-ld:Bench:{i}", speed=reading) for i in (1, 2, 3)]
    statements.clear()
    got = client.post(f"{E[:-9]}/entityOperations/create", json=batch)
    assert got.status_code == 207, got.text
    assert got.json()["success"] == ["urn:ngsi-ld:Bench:1", "urn:ngsi-ld:Bench:3"]
    assert [e["entityId"] for e in got.json()["errors"]] == ["urn:ngsi-ld:Bench:2"]
    assert [s for s in statements if s.startswith("SAVEPOINT")], statements
    for i, values in ((1, [1]), (2, [9]), (3, [1])):
        t = client.get(f"{T}/urn:ngsi-ld:Bench:{i}", params={"options": "temporalValues"})
        assert [v[0] for v in t.json()["speed"]["values"]] == values
