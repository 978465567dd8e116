"""One alert evaluation per reading (issue 16, "Speed and reliability": the services' cost in
a batch upsert), with the episodes unchanged.

A service's write-back (the air-quality service's index, a few milliseconds after the
client's reading was committed) asks the alert engine only for the rules that read what it
changed: the CAI rules, not the PM, ozone and Asian dust rules that the reading's own item
evaluated. When the write-back's item is merged into an earlier item of the same source that
no worker had taken yet (the queue keeps the later payload), every rule is evaluated, so the
reading that earlier item stood for is never skipped: the queue counts the merge
(``WorkItem.merged``), whatever the clocks of the hubs that queued the two items say."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cityhub.alerts import service as alert_service
from cityhub.alerts.defaults import PREFIX
from cityhub.alerts.episode import Observation
from cityhub.alerts.rules import Rule
from cityhub.alerts.service import AlertService
from cityhub.ngsild.datetime import now_iso
from cityhub.services.service import _CAUSE, ServiceContext, ServiceStats
from cityhub.store import transaction as store_transaction
from cityhub.store.base import Change, EntityQuery, QueryResult, Transaction
from tests.conftest import make_client

API = "/ngsi-ld/v1"
NS = "https://uri.etsi.org/ngsi-ld/default-context/"
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
SOURCE = "urn:ngsi-ld:AirQualityObserved:writeback"


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


class _NoRules:
    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        return QueryResult()


def _entity(pm25: float, cai: int, hours: float) -> dict[str, Any]:
    reading = {"type": "Property", "unitCode": "GQ", "observedAt": at(hours)}
    return {
        "id": SOURCE,
        "type": [NS + "AirQualityObserved"],
        "modifiedAt": at(hours),
        "attrs": {
            NS + "pm25": [{**reading, "value": pm25}],
            NS + "pm10": [{**reading, "value": 40}],
            NS + "airQualityIndex": [{"type": "Property", "value": cai, "observedAt": at(hours)}],
        },
    }


def _requests(service: AlertService, change: Change, cause: tuple[str, ...]) -> list[Any]:
    token = _CAUSE.set(cause)
    try:
        return list(service.requests(change))
    finally:
        _CAUSE.reset(token)


def test_a_write_back_item_names_what_it_changed() -> None:
    service = AlertService(interval=None)
    asyncio.run(service.rulebook.refresh(_NoRules(), ""))  # type: ignore[arg-type]
    reading, indexed = _entity(80, 100, 1), _entity(80, 160, 1)
    write_back = Change("entityUpdated", "", SOURCE, reading, indexed)
    (request,) = _requests(service, write_back, ("airquality",))
    assert request.payload["onlyChanged"] == ["airQualityIndex"]
    # the item still carries every watched attribute (merged into an earlier item, it is
    # evaluated whole)
    assert set(request.payload["after"]["attrs"]) == {
        NS + "pm25",
        NS + "pm10",
        NS + "airQualityIndex",
    }
    # a client's write is evaluated whole, as before
    (client,) = _requests(service, write_back, ())
    assert "onlyChanged" not in client.payload
    # a service's write that changed nothing a rule reads asks for nothing
    same = Change("entityUpdated", "", SOURCE, reading, {**reading, "modifiedAt": at(2)})
    assert _requests(service, same, ("airquality",)) == []
    assert len(_requests(service, same, ())) == 1


def _item(payload: dict[str, Any], merged: int, enqueued_at: float = 100.0) -> Any:
    from cityhub.store.work import WorkItem

    return WorkItem(1, "alerts", "", SOURCE, payload, 0, enqueued_at, "token", merged)


def test_only_an_unmerged_write_back_item_is_restricted() -> None:
    payload = {"onlyChanged": ["airQualityIndex"]}
    assert alert_service._only(_item(payload, 0)) == frozenset({"airQualityIndex"})
    # another item of the source was merged with it (the queue counted it): whole, whatever
    # the enqueue time says
    assert alert_service._only(_item(payload, 1)) is None
    assert alert_service._only(_item(payload, 3, enqueued_at=1e12)) is None
    # items of a client's write, and payloads that are not the hook's
    assert alert_service._only(_item({}, 0)) is None
    assert alert_service._only(_item({"onlyChanged": "x"}, 0)) is None


def _reading_body(pm25: float, hours: float, source: str = SOURCE) -> dict[str, Any]:
    """A full observation (the index needs every pollutant), PM2.5 at ``pm25``."""
    values = {"pm25": (pm25, "GQ"), "pm10": (40, "GQ"), "o3": (0.02, "59")}
    values.update({"no2": (0.02, "59"), "co": (0.4, "59"), "so2": (0.003, "59")})
    return {
        "id": source,
        "type": "AirQualityObserved",
        **{
            name: {"type": "Property", "value": v, "unitCode": unit, "observedAt": at(hours)}
            for name, (v, unit) in values.items()
        },
    }


def _alerts(client: Any) -> list[dict[str, Any]]:
    r = client.get(
        API + "/entities", params={"type": "Alert", "options": "keyValues", "limit": "100"}
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _rules_of(alerts: list[dict[str, Any]], source: str = SOURCE) -> set[str]:
    return {str(a["data"]["rule"]) for a in alerts if a["alertSource"] == source}


def _observed_rules(monkeypatch: Any) -> list[tuple[str, str]]:
    """(rule id, the CAI the item's after carries) of every observation the engine makes."""
    seen: list[tuple[str, str]] = []
    real = alert_service.observe

    def counted(rule: Rule, before: Any, after: Any) -> Observation | None:
        cai = after.get("attrs", {}).get(NS + "airQualityIndex")
        seen.append((rule.id, "cai" if cai else "no cai"))
        return real(rule, before, after)

    monkeypatch.setattr(alert_service, "observe", counted)
    return seen


def test_the_write_back_re_evaluates_only_the_cai_rules(
    tmp_path: Path, store_url: str, monkeypatch: Any
) -> None:
    """A station's hourly readings, with the air-quality service on (each upsert replaces the
    station, so only the service's write-back carries an index): the rules that read the
    index see each write-back, the others never do; the PM2.5 advisory opens as it did."""
    seen = _observed_rules(monkeypatch)
    hours = 14  # the index needs 9 of the 12 hours of the PM averages
    with make_client(tmp_path, store_url, airquality_service=True) as client:
        runner = client.app.state.services  # type: ignore[attr-defined]
        book = runner.services[[s.name for s in runner.services].index("alerts")].rulebook
        # the tenant's rules read (a process that has not read them yet queues every change
        # whole, write-backs too: the first item reads them)
        client.portal.call(book.refresh, runner.store, "")
        for hour in range(hours):
            r = client.post(API + "/entityOperations/upsert", json=[_reading_body(90, hour)])
            assert r.status_code in (201, 204), r.text
            client.portal.call(runner.settle)  # type: ignore[union-attr]
        rules = book.rules_for("", ["AirQualityObserved"])
        reads_cai = {r.id for r in rules if alert_service._reads(r, frozenset({"airQualityIndex"}))}
        assert reads_cai  # the defaults have CAI rules
        by_rule: dict[str, list[str]] = {r.id: [] for r in rules}
        for rule_id, cai in seen:
            by_rule[rule_id].append(cai)
        for rule_id, sides in by_rule.items():
            if rule_id in reads_cai:  # every hour's index (after the first 9 hours)
                assert sides.count("cai") >= hours - 9, (rule_id, sides)
            else:
                # each reading once, never again for its write-back (a write-back whose item
                # was merged into the reading's, not taken yet, is that one evaluation)
                assert len(sides) == hours, (rule_id, sides)
        # the reading of hour 2 opened the advisory (above 75 for two hours), the index (
        # PM2.5 of 90 is "unhealthy") its rule
        opened = _rules_of(_alerts(client))
        assert PREFIX + "pm25-advisory" in opened and opened & reads_cai, opened


class _Ahead:
    """``time`` as a hub whose clock is ``skew`` seconds ahead of this one sees it."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def time(self) -> float:
        return time.time() + self.skew


def test_a_write_back_merged_into_a_pending_reading_evaluates_every_rule(
    tmp_path: Path, store_url: str, monkeypatch: Any
) -> None:
    """Hostile order: the reading that opens the PM2.5 advisory is still queued (no worker
    took it) when a service writes the station's index back: the two items are one, with the
    write-back's payload; the advisory opens all the same, as it does without the write-back.
    Also when the hub that queued the reading has a clock a minute ahead of the one that
    writes the index back (PostgreSQL workers on several machines): before the queue counted
    merges, the item's first enqueue time (the reading's, a minute "later") was compared with
    the write-back's clock, the item looked like the write-back's alone, and only the CAI
    rules saw the reading (no advisory)."""
    opened: dict[str, set[str]] = {}
    with make_client(tmp_path, store_url) as client:
        runner = client.app.state.services  # type: ignore[attr-defined]
        for mode in ("alone", "merged", "merged, the reading's hub ahead"):
            source = f"{SOURCE}:{mode.split(',')[0]}:{'ahead' in mode}"
            merged = mode != "alone"
            for hours in range(3):
                client.portal.call(runner.stop)  # type: ignore[union-attr]
                body = [_reading_body(90, hours, source)]
                if "ahead" in mode:  # the reading's transaction stamps its item a minute on
                    monkeypatch.setattr(store_transaction, "time", _Ahead(60.0))
                r = client.post(API + "/entityOperations/upsert", json=body)
                monkeypatch.setattr(store_transaction, "time", time)
                assert r.status_code in (201, 204), r.text
                if merged:
                    # a service's write-back (the air-quality service is off here: its
                    # context stands in, so the write carries its cause)
                    ctx = ServiceContext(
                        "airquality", runner.store, None, runner.work, ServiceStats()
                    )

                    def write_back(
                        tx: Transaction, hours: int = hours, source: str = source
                    ) -> None:
                        before = tx.get(source)
                        assert before is not None
                        after = orjson.loads(orjson.dumps(before))
                        after["attrs"][NS + "airQualityIndex"] = [
                            {"type": "Property", "value": 160 + hours, "observedAt": at(hours)}
                        ]
                        after["modifiedAt"] = now_iso()
                        tx.save(after, before)

                    client.portal.call(ctx.write, "", write_back)
                    pending = client.portal.call(runner.work.pending, "alerts")
                    assert pending == 1  # one item: the write-back's merged into the reading's
                client.portal.call(runner.start)  # type: ignore[union-attr]
                client.portal.call(runner.settle)  # type: ignore[union-attr]
            opened[mode] = _rules_of(_alerts(client), source)
    assert PREFIX + "pm25-advisory" in opened["alone"]  # without the write-back
    # merged: the reading's rules were evaluated (the advisory), and the index's (the CAI
    # of 162 is "very unhealthy": its rule opened too), whatever the clocks
    for mode in ("merged", "merged, the reading's hub ahead"):
        assert opened["alone"] <= opened[mode], (mode, opened)
        assert opened[mode] - opened["alone"], (mode, opened)
