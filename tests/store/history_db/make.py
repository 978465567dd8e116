"""Write ``<commit>.db`` and ``<commit>.json`` next to this file: a small hub database whose
history cityhub at that commit wrote, and what that release answered on it:

* 54ea7f1, the last release with the history in one ``attribute_instances`` table (before
  SQLite migration 0014 put it in series);
* 11366c6, the last with the series' times as text (before migration 0016 made them integer
  microseconds).

``tests/store/test_history_upgrade.py`` opens a copy with today's code, which migrates it, and
asks the same; then makes the same changes as below on both and compares again.

Run it with that release on the path (the fixtures are committed; run again only to rebuild
one, and only from its commit)::

    mkdir /tmp/old && git archive 54ea7f1 cityhub | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python3 tests/store/history_db/make.py 54ea7f1

The history, through the HTTP API only: temporal entities with integers, decimals, booleans,
text, objects, a unit code, datasetIds, instances without observedAt, observedAt written with
and without fraction and with an offset, a Relationship and a LanguageProperty; entity API
updates and deletions (history written by the store's hook); an instance modified and one
deleted through the temporal API, and an attribute's history deleted.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: the releases a fixture was written by, and the last SQLite migration each had
RELEASES = {"54ea7f1": 13, "11366c6": 15}
E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
S1 = "urn:ngsi-ld:AirQualityObserved:S1"
S2 = "urn:ngsi-ld:AirQualityObserved:S2"
LAMP = "urn:ngsi-ld:Streetlight:L1"
TENANT = {"NGSILD-Tenant": "seongnam"}


def _hour(day: int, hour: int, form: int) -> str:
    base = f"2025-03-{day:02d}T{hour:02d}:00:00"
    return [base + "Z", base + ".000Z", base + ".000000Z", base + "+09:00"][form % 4]


def ok(response: Any) -> Any:
    assert response.status_code < 300, (response.status_code, response.text)
    return response


def populate(c: Any) -> None:
    """The history the fixture holds (the release's code writes it)."""
    pm25 = [
        {"type": "Property", "value": v, "observedAt": _hour(1 + n // 24, n % 24, n)}
        for n, v in enumerate([12, 12.5, 0, -3, 7.25, 1e-7, 40, 41.0, 2**60, 18] * 5)
    ]
    pm25.append({"type": "Property", "value": 22, "unitCode": "GQ", "observedAt": _hour(4, 1, 0)})
    pm25.append({"type": "Property", "value": 23})  # no observedAt
    ok(
        c.post(
            T,
            json={
                "id": S1,
                "type": "AirQualityObserved",
                "pm25": pm25,
                "pm10": [
                    {
                        "type": "Property",
                        "value": 30 + n,
                        "observedAt": _hour(1, n, 0),
                        "datasetId": f"urn:ngsi-ld:Dataset:{'ab'[n % 2]}",
                    }
                    for n in range(12)
                ],
                "status": [
                    {"type": "Property", "value": v, "observedAt": _hour(1, n, 2)}
                    for n, v in enumerate(["ok", True, False, {"a": 1}, [1, 2, 3], "warn"])
                ],
                "refDevice": [
                    {"type": "Relationship", "object": "urn:ngsi-ld:Device:1", "observedAt": t}
                    for t in (_hour(1, 0, 0), _hour(2, 0, 1))
                ],
                "name": {"type": "LanguageProperty", "languageMap": {"ko": "정자", "en": "J"}},
            },
        )
    )
    ok(
        c.post(
            f"{T}/{S1}/attrs",
            json={
                "pm25": [
                    {"type": "Property", "value": 99, "observedAt": _hour(1, 0, 0)},  # replaces
                    {"type": "Property", "value": 5.5, "observedAt": _hour(6, 0, 3)},
                ]
            },
        )
    )
    ok(
        c.post(
            T,
            json={
                "id": S2,
                "type": "AirQualityObserved",
                "pm25": [
                    {"type": "Property", "value": n * 1.5, "observedAt": _hour(2, n, 0)}
                    for n in range(24)
                ],
            },
        )
    )
    # the entity API: a new entity, updates, an attribute deleted, the entity deleted
    ok(
        c.post(
            E,
            json={
                "id": LAMP,
                "type": "Streetlight",
                "powerState": {"type": "Property", "value": "on"},
                "illuminance": {"type": "Property", "value": 10, "observedAt": _hour(3, 1, 0)},
                "power": {"type": "Property", "value": 3.5},
            },
        )
    )
    for n in range(3):
        ok(
            c.patch(
                f"{E}/{LAMP}/attrs",
                json={
                    "illuminance": {
                        "type": "Property",
                        "value": 11 + n,
                        "observedAt": _hour(3, 2 + n, 1),
                    }
                },
            )
        )
    ok(c.delete(f"{E}/{LAMP}/attrs/power"))
    ok(
        c.post(
            E,
            json={
                "id": "urn:ngsi-ld:Gone:1",
                "type": "Gone",
                "v": {"type": "Property", "value": 1},
            },
        )
    )
    ok(c.delete(f"{E}/urn:ngsi-ld:Gone:1"))
    # the temporal API: modify one instance, delete another, delete one datasetId's history
    doc = ok(c.get(f"{T}/{S2}?attrs=pm25")).json()
    ids = [i["instanceId"] for i in doc["pm25"]]
    ok(c.patch(f"{T}/{S2}/attrs/pm25/{ids[3]}", json={"value": 77, "observedAt": _hour(9, 9, 0)}))
    ok(c.delete(f"{T}/{S2}/attrs/pm25/{ids[4]}"))
    ok(c.delete(f"{T}/{S1}/attrs/pm10?datasetId=urn:ngsi-ld:Dataset:b"))
    # a second tenant
    ok(
        c.post(
            T,
            json={
                "id": S1,
                "type": "AirQualityObserved",
                "pm25": [
                    {"type": "Property", "value": n, "observedAt": _hour(5, n, 0)} for n in range(6)
                ],
            },
            headers=TENANT,
        )
    )


_WINDOW = "timerel=between&timeAt=2025-03-01T02:00:00Z&endTimeAt=2025-03-02T12:00:00Z"
_AGG = "options=aggregatedValues&aggrMethods="
_YEAR = "timerel=between&timeAt=2025-01-01T00:00:00Z&endTimeAt=2026-01-01T00:00:00Z"

#: (path, request headers) asked of the release, and again of today's code
REQUESTS: list[tuple[str, dict[str, str]]] = [
    (f"{T}/{S1}", {}),
    (f"{T}/{S1}?options=sysAttrs", {}),
    (f"{T}/{S1}?options=temporalValues", {}),
    (f"{T}/{S1}?lastN=3", {}),
    (f"{T}/{S1}?lastN=2&attrs=pm10", {}),
    (f"{T}/{S1}?{_WINDOW}&attrs=pm25", {}),
    (f"{T}/{S1}?timerel=before&timeAt=2025-03-01T05:00:00Z", {}),
    (f"{T}/{S1}?timerel=after&timeAt=2025-03-01T00:00:00Z&timeproperty=createdAt", {}),
    (f"{T}/{S1}?timerel=after&timeAt=2025-03-01T00:00:00Z&timeproperty=modifiedAt&lastN=2", {}),
    (f"{T}/{S1}?datasetId=urn:ngsi-ld:Dataset:a&attrs=pm10", {}),
    (
        f"{T}/{S1}?timerel=after&timeAt=2025-01-01T00:00:00Z&{_AGG}"
        "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq&aggrPeriodDuration=P1D",
        {},
    ),
    (
        f"{T}/{S1}?timerel=after&timeAt=2025-01-01T00:00:00Z&{_AGG}avg,max"
        "&aggrPeriodDuration=PT6H&attrs=pm25,status",
        {},
    ),
    (f"{T}/{S1}?{_AGG}min,max,totalCount&aggrPeriodDuration=P1M&attrs=status", {}),
    (f"{T}/{S2}", {}),
    (f"{T}/{S2}?options=sysAttrs&lastN=5", {}),
    (f"{T}/{S2}?timerel=after&timeAt=2025-03-01T00:00:00Z&{_AGG}avg&aggrPeriodDuration=PT4H", {}),
    (f"{T}/{LAMP}?options=sysAttrs", {}),
    (f"{T}/{LAMP}?timerel=before&timeAt=2025-03-04T00:00:00Z", {}),
    (f"{T}/urn:ngsi-ld:Gone:1?options=sysAttrs", {}),
    (f"{T}?type=AirQualityObserved&{_WINDOW}", {}),
    (f"{T}?type=AirQualityObserved&{_WINDOW}&q=pm25>20&attrs=pm25&count=true", {}),
    (f"{T}?type=AirQualityObserved&lastN=1&options=temporalValues", {}),
    (
        f"{T}?type=AirQualityObserved,Streetlight&timerel=after&timeAt=2025-01-01T00:00:00Z"
        f"&{_AGG}max,totalCount&aggrPeriodDuration=P1D",
        {},
    ),
    (f"{T}?type=AirQualityObserved&timerel=after&timeAt=2025-01-01T00:00:00Z", TENANT),
    # whole days from a midnight timeAt (today's code reads its daily rollups for these)
    (f"{T}/{S2}?{_YEAR}&{_AGG}max,min,totalCount&aggrPeriodDuration=P1D", {}),
    (f"{T}?type=AirQualityObserved&{_YEAR}&{_AGG}max&aggrPeriodDuration=P1M&attrs=pm25", {}),
    (f"{T}/{S1}?{_YEAR}&{_AGG}max&aggrPeriodDuration=P1D&attrs=status,pm25,pm10", {}),
    (f"{T}/{S1}?{_YEAR}&{_AGG}totalCount&aggrPeriodDuration=P1W&attrs=pm25&lastN=2", {}),
]


def changes(c: Any, recorded_id: str) -> None:
    """Writes made after the fixture was taken, on the release and on today's code alike:
    an instance recorded by the release modified by its id, appends, an entity update."""
    ok(c.patch(f"{T}/{S1}/attrs/pm25/{recorded_id}", json={"value": 1234}))
    ok(
        c.post(
            f"{T}/{S1}/attrs",
            json={
                "pm25": [
                    {"type": "Property", "value": 8, "observedAt": _hour(1, 2, 0)},  # replaces
                    {"type": "Property", "value": 9.5, "observedAt": _hour(7, 0, 1)},
                ]
            },
        )
    )
    ok(
        c.post(
            f"{T}/{S2}/attrs",
            json={"pm25": {"type": "Property", "value": 1, "observedAt": _hour(8, 0, 0)}},
        )
    )


#: asked after :func:`changes` (no system times: new instances are recorded at another time)
AFTER: list[tuple[str, dict[str, str]]] = [
    (f"{T}/{S1}?attrs=pm25", {}),
    (f"{T}/{S1}?attrs=pm25&lastN=4", {}),
    (f"{T}/{S2}?attrs=pm25&options=temporalValues", {}),
    (
        f"{T}/{S1}?timerel=after&timeAt=2025-01-01T00:00:00Z&{_AGG}avg,max,totalCount"
        "&aggrPeriodDuration=P1D&attrs=pm25",
        {},
    ),
    (f"{T}/{S1}?{_YEAR}&{_AGG}max,min&aggrPeriodDuration=P1D&attrs=pm25", {}),
]


def answer(c: Any, path: str, headers: dict[str, str]) -> dict[str, Any]:
    response = c.get(path, headers=headers)
    is_json = "json" in response.headers.get("content-type", "")
    return {
        "path": path,
        "headers": headers,
        "status": response.status_code,
        "body": response.json() if is_json else response.text,
    }


def recorded_instance(c: Any) -> str:
    """The id of the release's record of S1's pm25 at 2025-03-01T03:00Z."""
    doc = c.get(f"{T}/{S1}?attrs=pm25").json()
    return next(i["instanceId"] for i in doc["pm25"] if i["observedAt"].startswith("2025-03-01T03"))


def main() -> None:
    from starlette.testclient import TestClient

    from cityhub.app import create_app
    from cityhub.settings import Settings
    from cityhub.store.sqlite import migrate

    commit = sys.argv[1] if len(sys.argv) > 1 else ""
    if RELEASES.get(commit) != max(m.version for m in migrate.migrations()):
        sys.exit("run this with the cityhub of a commit of RELEASES on PYTHONPATH (docstring)")
    db, answers_file = HERE / f"{commit}.db", HERE / f"{commit}.json"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA page_size = 1024")  # a small file; the hub keeps the page size
    conn.execute("VACUUM")
    conn.close()
    settings = Settings(store=f"sqlite:///{db}", airquality_service=False, indicators_service=False)
    with TestClient(create_app(settings)) as c:
        populate(c)
        answers = [answer(c, path, headers) for path, headers in REQUESTS]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    copy = Path("/tmp/history-fixture-after.db")
    copy.write_bytes(db.read_bytes())
    after_settings = Settings(
        store=f"sqlite:///{copy}", airquality_service=False, indicators_service=False
    )
    with TestClient(create_app(after_settings)) as c:
        recorded_id = recorded_instance(c)
        changes(c, recorded_id)
        after = [answer(c, path, headers) for path, headers in AFTER]
    answers_file.write_text(
        json.dumps(
            {"answers": answers, "recorded_id": recorded_id, "after": after},
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    )
    print(f"{db.name}: {db.stat().st_size} bytes, {len(answers)} + {len(after)} answers")


if __name__ == "__main__":
    main()
