"""Write ``d99cb2b.db`` and ``d99cb2b.json`` next to this file: a small hub database written by
cityhub at commit d99cb2b (the last release whose SQLite schema was not numbered migrations), and
what that release answered to a set of requests on it. ``tests/store/test_release_upgrade.py``
opens a copy with today's code and asks the same.

Run it with the old release on the path (the fixture is committed; run again only to rebuild
it, and only from that commit)::

    git worktree add --detach /tmp/old d99cb2b
    PYTHONPATH=/tmp/old python3 tests/store/release_db/make.py

The data, through the HTTP API only: entities of two tenants with Points, a Polygon, a scope,
a LanguageProperty, a Relationship and two datasetIds; updates and a deletion (history written
by the store's hook), a temporal entity with instances at fixed times (temporal API); a
subscription whose endpoint refuses (so notifications stay in the outbox, tried once), a
registration and a registration subscription. The outbox rows' due times are then moved to
2100 (nothing else is touched), so that a hub opening the file does not try them again, and the
release is started again on it to record its answers.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DB = HERE / "d99cb2b.db"
ANSWERS = HERE / "d99cb2b.json"
E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
SUB = "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:pm25"
REFUSED = "http://127.0.0.1:9/notify"  # the discard port: connection refused
TENANT = {"NGSILD-Tenant": "seongnam"}
#: response headers compared (Date and the like differ by nature)
HEADERS = ("content-type", "link", "ngsild-results-count", "content-range", "location")


def aqo(n: int, pm25: float, lon: float, lat: float, name: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:{n}",
        "type": "AirQualityObserved",
        "name": {"type": "Property", "value": name},
        "pm25": {
            "type": "Property",
            "value": pm25,
            "unitCode": "GQ",
            "observedAt": "2026-11-01T09:00:00Z",
        },
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{n}"},
    }


def populate(c: Any) -> None:
    def ok(response: Any) -> None:
        assert response.status_code < 300, (response.status_code, response.text)

    ok(
        c.post(
            "/ngsi-ld/v1/subscriptions",
            json={
                "id": "urn:ngsi-ld:Subscription:pm25",
                "type": "Subscription",
                "entities": [{"type": "AirQualityObserved"}],
                "watchedAttributes": ["pm25"],
                "q": "pm25>30",
                "notification": {"attributes": ["pm25"], "endpoint": {"uri": REFUSED}},
            },
        )
    )
    ok(
        c.post(
            "/ngsi-ld/v1/subscriptions",
            json={
                "id": "urn:ngsi-ld:Subscription:near",
                "type": "Subscription",
                "entities": [{"type": "Streetlight"}],
                "geoQ": {
                    "georel": "near;maxDistance==500",
                    "geometry": "Point",
                    "coordinates": [127.108, 37.366],
                },
                "expiresAt": "2099-01-01T00:00:00Z",
                "throttling": 60,
                "notification": {"format": "keyValues", "endpoint": {"uri": REFUSED}},
            },
        )
    )
    a1 = aqo(1, 18, 127.1083, 37.3660, "Jeongja")
    a1["name"] = {"type": "LanguageProperty", "languageMap": {"ko": "정자동", "en": "Jeongja"}}
    a1["scope"] = "/Seongnam/Bundang"
    ok(c.post(E, json=a1))
    ok(c.post(E, json=aqo(2, 42, 127.1276, 37.4112, "Sujin")))
    ok(c.post(E, json=aqo(3, 25, 127.1420, 37.4210, "Taepyeong")))
    ok(
        c.post(
            E,
            json={
                "id": "urn:ngsi-ld:Streetlight:1",
                "type": "Streetlight",
                "powerState": {"type": "Property", "value": "on"},
                "illuminance": [
                    {"type": "Property", "value": 12.5, "datasetId": "urn:ngsi-ld:Dataset:a"},
                    {"type": "Property", "value": 13.0, "datasetId": "urn:ngsi-ld:Dataset:b"},
                ],
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [127.1090, 37.3665]},
                },
            },
        )
    )
    ok(
        c.post(
            E,
            json={
                "id": "urn:ngsi-ld:AdministrativeArea:Jeongja-dong",
                "type": ["AdministrativeArea", "Place"],
                "name": {"type": "Property", "value": "Jeongja-dong"},
                "location": {
                    "type": "GeoProperty",
                    "value": {
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [127.095, 37.355],
                                [127.120, 37.355],
                                [127.120, 37.375],
                                [127.095, 37.375],
                                [127.095, 37.355],
                            ]
                        ],
                    },
                },
            },
        )
    )
    # history: updates through the entity API, one deletion, a temporal entity at fixed times
    for value in (35, 51):
        ok(
            c.patch(
                f"{E}/urn:ngsi-ld:AirQualityObserved:1/attrs",
                json={
                    "pm25": {
                        "type": "Property",
                        "value": value,
                        "unitCode": "GQ",
                        "observedAt": f"2026-11-01T{value // 10:02d}:30:00Z",
                    }
                },
            )
        )
    ok(c.delete(f"{E}/urn:ngsi-ld:AirQualityObserved:3"))
    ok(
        c.post(
            T,
            json={
                "id": "urn:ngsi-ld:WeatherObserved:1",
                "type": "WeatherObserved",
                "temperature": [
                    {"type": "Property", "value": t, "observedAt": f"2026-11-01T{h:02d}:{m}:00Z"}
                    for h, m, t in [
                        (6, "00", 3.5),
                        (6, "30", 4.0),
                        (7, "00", 5.5),
                        (7, "30", 7.0),
                        (8, "00", 9.5),
                    ]
                ],
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [127.11, 37.37]},
                },
            },
        )
    )
    # a second tenant
    ok(c.post(E, json=aqo(7, 60, 127.05, 37.44, "Sinheung"), headers=TENANT))
    ok(
        c.post(
            E,
            json={
                "id": "urn:ngsi-ld:WasteContainer:1",
                "type": "WasteContainer",
                "fillingLevel": {"type": "Property", "value": 0.4},
            },
            headers=TENANT,
        )
    )
    ok(
        c.post(
            "/ngsi-ld/v1/csourceRegistrations",
            json={
                "id": "urn:ngsi-ld:ContextSourceRegistration:forecast",
                "type": "ContextSourceRegistration",
                "information": [
                    {
                        "entities": [{"type": "WeatherForecast"}],
                        "propertyNames": ["temperature", "precipitation"],
                    }
                ],
                "endpoint": "http://127.0.0.1:9/csource",
                "mode": "inclusive",
            },
        )
    )
    ok(
        c.post(
            "/ngsi-ld/v1/csourceSubscriptions",
            json={
                "id": "urn:ngsi-ld:Subscription:csource",
                "type": "Subscription",
                "entities": [{"type": "WeatherForecast"}],
                "notification": {"endpoint": {"uri": REFUSED}},
            },
        )
    )


#: (path, request headers) asked of the release, and again of today's code
REQUESTS: list[tuple[str, dict[str, str]]] = [
    (f"{E}/urn:ngsi-ld:AirQualityObserved:1", {}),
    (f"{E}/urn:ngsi-ld:AirQualityObserved:1?options=sysAttrs", {}),
    (f"{E}/urn:ngsi-ld:AirQualityObserved:1?lang=ko&options=keyValues", {}),
    (f"{E}/urn:ngsi-ld:Streetlight:1?datasetId=urn:ngsi-ld:Dataset:b", {}),
    (f"{E}?type=AirQualityObserved", {}),
    (f"{E}?type=AirQualityObserved&q=pm25>30&options=keyValues", {}),
    (f"{E}?type=AirQualityObserved&q=name==%22Sujin%22&attrs=name", {}),
    (f"{E}?q=refDevice==%22urn:ngsi-ld:Device:2%22&options=keyValues", {}),
    (f"{E}?type=AirQualityObserved&scopeQ=/Seongnam/Bundang&options=keyValues", {}),
    (f"{E}?type=AirQualityObserved&count=true&limit=1", {}),
    (f"{E}?type=Streetlight&idPattern=urn:ngsi-ld:Street.*", {}),
    (
        f"{E}?type=AirQualityObserved,Streetlight"
        "&id=urn:ngsi-ld:AirQualityObserved:2,urn:ngsi-ld:Streetlight:1&options=keyValues",
        {},
    ),
    (
        f"{E}?georel=near;maxDistance==2000&geometry=Point&coordinates=[127.108,37.366]"
        "&options=keyValues&attrs=location",
        {},
    ),
    (
        f"{E}?type=Streetlight,AirQualityObserved&georel=within&geometry=Polygon"
        "&coordinates=[[[127.095,37.355],[127.12,37.355],[127.12,37.375],[127.095,37.375],"
        "[127.095,37.355]]]&options=keyValues",
        {},
    ),
    (
        f"{E}?type=Place&georel=intersects&geometry=Point&coordinates=[127.1,37.36]"
        "&options=keyValues&attrs=name",
        {},
    ),
    (f"{E}?type=AirQualityObserved", TENANT),
    (f"{E}/urn:ngsi-ld:WasteContainer:1", TENANT),
    ("/ngsi-ld/v1/types", {}),
    ("/ngsi-ld/v1/types?details=true", {}),
    ("/ngsi-ld/v1/types/AirQualityObserved", {}),
    ("/ngsi-ld/v1/types", TENANT),
    ("/ngsi-ld/v1/attributes", {}),
    ("/ngsi-ld/v1/subscriptions", {}),
    ("/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:near", {}),
    ("/ngsi-ld/v1/csourceRegistrations?type=WeatherForecast", {}),
    ("/ngsi-ld/v1/csourceRegistrations?type=WeatherForecast&attrs=temperature", {}),
    ("/ngsi-ld/v1/csourceRegistrations?type=Streetlight", {}),
    ("/ngsi-ld/v1/csourceSubscriptions/urn:ngsi-ld:Subscription:csource", {}),
    (f"{T}/urn:ngsi-ld:AirQualityObserved:1", {}),
    (f"{T}/urn:ngsi-ld:AirQualityObserved:1?options=temporalValues&attrs=pm25", {}),
    (f"{T}/urn:ngsi-ld:AirQualityObserved:1?lastN=1&attrs=pm25", {}),
    (f"{T}/urn:ngsi-ld:AirQualityObserved:3?attrs=pm25", {}),
    (f"{T}/urn:ngsi-ld:WeatherObserved:1?options=sysAttrs", {}),
    (
        f"{T}?type=WeatherObserved&timerel=between&timeAt=2026-11-01T06:15:00Z"
        "&endTimeAt=2026-11-01T07:45:00Z",
        {},
    ),
    (
        f"{T}?type=WeatherObserved&timerel=after&timeAt=2026-11-01T00:00:00Z"
        "&options=aggregatedValues&aggrMethods=avg,max,totalCount&aggrPeriodDuration=PT1H",
        {},
    ),
    (
        f"{T}?type=AirQualityObserved&timerel=before&timeAt=2026-12-01T00:00:00Z"
        "&q=pm25>40&attrs=pm25&options=temporalValues",
        {},
    ),
    (f"{T}?type=AirQualityObserved&timerel=after&timeAt=2026-01-01T00:00:00Z", TENANT),
]


def answer(c: Any, path: str, headers: dict[str, str]) -> dict[str, Any]:
    response = c.get(path, headers=headers)
    is_json = "json" in response.headers.get("content-type", "")
    return {
        "path": path,
        "headers": headers,
        "status": response.status_code,
        "response_headers": {h: response.headers[h] for h in HEADERS if h in response.headers},
        "body": response.json() if is_json else response.text,
    }


def main() -> None:
    if not resources.files("cityhub.store.sqlite").joinpath("schema.sql").is_file():
        sys.exit("run this with cityhub d99cb2b on PYTHONPATH (see the docstring)")
    from starlette.testclient import TestClient

    from cityhub.app import create_app
    from cityhub.settings import Settings

    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(DB)
    conn.execute("PRAGMA page_size = 1024")  # a small file; the release keeps the page size
    conn.execute("VACUUM")
    conn.close()
    settings = Settings(store=f"sqlite:///{DB}")
    with TestClient(create_app(settings)) as c:
        populate(c)
        deadline = time.monotonic() + 30  # until the dispatcher has tried once, as a hub would
        while "lastFailure" not in c.get(SUB).json()["notification"]:
            assert time.monotonic() < deadline, "the dispatcher never tried the notification"
            time.sleep(0.05)
    conn = sqlite3.connect(DB, isolation_level=None)
    conn.execute("UPDATE outbox SET due_at = 4102444800.0, leased_until = NULL")  # 2100-01-01
    conn.close()
    with TestClient(create_app(settings)) as c:  # nothing due: what it answers is what is stored
        answers = [answer(c, path, headers) for path, headers in REQUESTS]
    conn = sqlite3.connect(DB, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    outbox = conn.execute(
        "SELECT id, tenant, subscription_id, payload, due_at, attempts, created_at"
        " FROM outbox ORDER BY id"
    ).fetchall()
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    assert outbox, "no notification stayed in the outbox"
    ANSWERS.write_text(
        json.dumps({"answers": answers, "outbox": outbox}, ensure_ascii=False, indent=1) + "\n"
    )
    print(
        f"{DB.name}: {DB.stat().st_size} bytes, {len(answers)} answers, {len(outbox)} outbox rows"
    )


if __name__ == "__main__":
    main()
