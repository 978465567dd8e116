"""History retention: a number of days per tenant (settings ``history_retention_days`` and
``history_retention_by_tenant``), pruned in small write transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings
from cityhub.store.open import open_backend
from cityhub.store.retention import BATCH, RetentionPolicy, parse_retention
from cityhub.store.sqlite import retention
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.temporal import SqliteTemporalStore

NS = "https://ex.org/"


def test_parse_retention() -> None:
    policy = parse_retention(365, " traffic=30, archive=0 ,")
    assert policy.days_for("") == 365 and policy.days_for("other") == 365
    assert policy.days_for("traffic") == 30 and policy.days_for("archive") == 0
    assert policy.active
    assert not parse_retention(0, "").active
    assert parse_retention(0, "a=1").active
    for bad in ("traffic", "traffic=", "=3", "traffic=-1", "traffic=x"):
        with pytest.raises(ValueError, match="history_retention_by_tenant"):
            parse_retention(0, bad)
    with pytest.raises(ValueError, match="history_retention_days"):
        parse_retention(-1, "")


class _Hub:
    """A store with history; ``prune`` runs the policy at a given time (no background run)."""

    def __init__(self, path: Path, policy: RetentionPolicy, background: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.policy = policy
        days, by_tenant = (policy.days, policy.by_tenant) if background else (0, {})
        settings = Settings(
            history_retention_days=days,
            history_retention_by_tenant=", ".join(f"{t}={d}" for t, d in by_tenant.items()),
        )
        self.backend = open_backend(f"sqlite:///{path}", settings)
        self.store = cast(SqliteStore, self.backend.store)
        self.history = cast(SqliteTemporalStore, self.backend.temporal)
        self.run(self.backend.start())

    def prune(self, now: str | None = None, batch: int = BATCH) -> int:
        pruner = retention.Pruner(self.store, self.policy, 3600)
        return int(self.run(pruner.prune(now, batch=batch)))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def add(self, tenant: str, eid: str, *times: str | None) -> None:
        instances = [
            {"type": "Property", "value": n, **({"observedAt": t} if t else {})}
            for n, t in enumerate(times)
        ]
        entity = {"id": eid, "type": [NS + "Sensor"], "attrs": {NS + "v": instances}}
        self.run(self.history.create_or_update(tenant, entity))

    def count(self, tenant: str, eid: str) -> int:
        found = self.run(self.history.get_entity(tenant, eid, TemporalQuery()))
        return -1 if found is None else len(found[1].get(NS + "v", []))

    def close(self) -> None:
        self.run(self.backend.close())
        self.loop.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[_Hub]:
    h = _Hub(tmp_path / "r.db", parse_retention(30, "archive=0, traffic=1"))
    yield h
    h.close()


def test_prune_by_tenant(hub: _Hub) -> None:
    old, recent = "2024-01-01T00:00:00Z", "2024-02-25T00:00:00Z"
    hub.add("", "urn:ngsi-ld:Sensor:1", old, recent, "2024-01-02T00:00:00Z")
    hub.add("archive", "urn:ngsi-ld:Sensor:1", old, recent)
    hub.add("traffic", "urn:ngsi-ld:Sensor:1", old, recent, "2024-02-29T12:00:00Z")
    gone = hub.prune("2024-03-01T00:00:00Z")
    assert gone == 2 + 0 + 2
    assert hub.count("", "urn:ngsi-ld:Sensor:1") == 1  # 30 days: the 25 February one stays
    assert hub.count("archive", "urn:ngsi-ld:Sensor:1") == 2  # 0: everything is kept
    assert hub.count("traffic", "urn:ngsi-ld:Sensor:1") == 1  # 1 day
    assert hub.prune("2024-03-01T00:00:00Z") == 0


def test_instances_without_observed_at_age_from_when_they_were_recorded(hub: _Hub) -> None:
    hub.add("", "urn:ngsi-ld:Sensor:1", None, None)
    assert hub.prune() == 0  # recorded just now
    assert hub.prune("2999-01-01T00:00:00Z") == 2


def test_pruning_runs_in_small_transactions_between_other_writes(
    hub: _Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add("", "urn:ngsi-ld:Sensor:1", *[f"2024-01-01T00:00:0{n}Z" for n in range(5)])
    journal: list[str] = []
    delete_rows = retention._delete_rows

    def recording(conn: Any, seqs: list[int], cutoff: str) -> int:
        journal.append(f"delete {len(seqs)}")
        if len(journal) == 1:  # a client write arrives while pruning has begun
            hub.loop.call_soon_threadsafe(lambda: hub.loop.create_task(write()))
        return delete_rows(conn, seqs, cutoff)

    async def write() -> None:
        journal.append("write queued")
        await hub.store.run_transaction(lambda conn: journal.append("write done"))

    monkeypatch.setattr(retention, "_delete_rows", recording)
    gone = hub.prune("2025-01-01T00:00:00Z", batch=2)
    assert gone == 5
    assert [j for j in journal if j.startswith("delete")] == ["delete 2", "delete 2", "delete 1"]
    # the write waited for one batch, not for the whole run
    assert journal.index("write done") < journal.index("delete 1")


def test_heads_of_deleted_entities_go_with_their_history(hub: _Hub) -> None:
    hub.add("", "urn:ngsi-ld:Sensor:1", "2024-01-01T00:00:00Z")

    def delete(tx: Any) -> None:
        tx.delete("urn:ngsi-ld:Sensor:1")

    hub.run(hub.store.write("", delete))  # the entity API's delete: the head gets deletedAt
    assert hub.count("", "urn:ngsi-ld:Sensor:1") == 2  # the instance and its deletion record
    hub.prune("2999-01-01T00:00:00Z")
    assert hub.count("", "urn:ngsi-ld:Sensor:1") == -1


def test_pruner_starts_only_with_a_retention(tmp_path: Path) -> None:
    keep_all = _Hub(tmp_path / "a.db", RetentionPolicy(), background=True)
    assert keep_all.history._pruner._task is None
    keep_all.close()
    pruning = _Hub(tmp_path / "b.db", RetentionPolicy(days=7), background=True)
    assert pruning.history._pruner._task is not None
    pruning.close()
    assert pruning.history._pruner._task is None
