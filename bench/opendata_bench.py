"""What open data costs (issue 19 "Speed"), in-process (the app called as ASGI, no server, no
HTTP parser), in one run:

- OGC API items pages (``limit=100``, without and with a ``bbox``) as a ratio to the NGSI-LD
  query of the same entities (``type=...&limit=100&count=true``, and the same box as
  ``georel=intersects`` with a Polygon), the two interleaved in rounds, pages at random
  offsets; the target is a ratio of at least 0.8 (OGC requests per second / NGSI-LD's);
- a full CSV export of ``--export-entities`` entities (default 100,000): its rate as a ratio to
  reading the same entities through the NGSI-LD query path (pages of 1,000 in id order, each
  after the last id of the one before, as the export reads them), and how much the
  process's resident memory grows while it streams (the peak, reset before it starts:
  ``/proc/self/clear_refs``), which must stay under 50 MB.

    python3 bench/opendata_bench.py [--entities 10000] [--export-entities 100000] [--rounds 7]
    python3 bench/opendata_bench.py --smoke      # a few seconds: what the tests run

Prints a table and, with ``--out``, writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from asgi_call import call, scope

from cityhub.app import create_app
from cityhub.settings import Settings

TYPE = "AirQualityObserved"
#: Seongnam, roughly; the bbox scenario asks for a quarter of it
WEST, SOUTH, EAST, NORTH = 127.05, 37.33, 127.18, 37.47
BOX = (127.08, 37.36, 127.115, 37.40)
#: the city services would react to the loaded readings and compete with the measured calls
QUIET: dict[str, Any] = {"airquality_service": False, "alerts_service": False}


def _entities(n: int, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(start)
    return [
        {
            "id": f"urn:ngsi-ld:{TYPE}:bench:{i}",
            "type": TYPE,
            "name": {
                "type": "LanguageProperty",
                "languageMap": {"ko": f"측정소 {i}", "en": f"S{i}"},
            },
            "pm25": {
                "type": "Property",
                "value": rng.randint(0, 120),
                "unitCode": "GQ",
                "observedAt": "2026-11-01T09:00:00Z",
            },
            "pm10": {"type": "Property", "value": rng.randint(0, 200), "unitCode": "GQ"},
            "location": {
                "type": "GeoProperty",
                "value": {
                    "type": "Point",
                    "coordinates": [
                        round(rng.uniform(WEST, EAST), 6),
                        round(rng.uniform(SOUTH, NORTH), 6),
                    ],
                },
            },
        }
        for i in range(start, start + n)
    ]


JSON = [(b"content-type", b"application/json")]


async def _call(
    app: Any, method: str, path: str, query: str = "", body: bytes = b""
) -> tuple[int, int]:
    """(status, body bytes) of one request."""
    return await call(app, scope(method, path, query, JSON), body)


async def _get(app: Any, path: str, query: str) -> bytes:
    """The body of a GET that must answer 200."""
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope("GET", path, query, JSON), receive, send)
    return b"".join(chunks)


async def _load(app: Any, n: int) -> None:
    for start in range(0, n, 1000):
        body = orjson.dumps(_entities(min(1000, n - start), start))
        status, _ = await _call(app, "POST", "/ngsi-ld/v1/entityOperations/upsert", "", body)
        assert status in (201, 204), status
    status, _ = await _call(app, "PUT", f"/admin/publishing/{TYPE}", "", b"{}")
    assert status in (200, 201), status


def _box_polygon() -> str:
    w, s, e, n = BOX
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return orjson.dumps([ring]).decode()


def _requests(offset: int) -> dict[str, tuple[str, str]]:
    w, s, e, n = BOX
    return {
        "ogc page": (f"/ogcapi/collections/{TYPE}/items", f"limit=100&offset={offset}"),
        "ngsi-ld page": (
            "/ngsi-ld/v1/entities",
            f"type={TYPE}&limit=100&offset={offset}&count=true",
        ),
        "ogc bbox": (
            f"/ogcapi/collections/{TYPE}/items",
            f"limit=100&bbox={w},{s},{e},{n}",
        ),
        "ngsi-ld bbox": (
            "/ngsi-ld/v1/entities",
            f"type={TYPE}&limit=100&count=true&georel=intersects&geometry=Polygon"
            f"&coordinates={_box_polygon()}",
        ),
    }


async def _pages(app: Any, n: int, rounds: int, calls: int) -> dict[str, list[float]]:
    """Requests per second of each scenario, one figure per round, scenarios interleaved."""
    rng = random.Random(7)
    out: dict[str, list[float]] = {name: [] for name in _requests(0)}
    for _ in range(rounds):
        offsets = [rng.randrange(0, max(1, n - 100)) for _ in range(calls)]
        for name in out:
            started = time.perf_counter()
            for offset in offsets:
                path, query = _requests(offset)[name]
                status, _ = await _call(app, "GET", path, query)
                assert status == 200, (name, status)
            out[name].append(calls / (time.perf_counter() - started))
    return out


def _memory() -> tuple[int, int]:
    """(resident, peak resident) of this process in kB (Linux)."""
    fields: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


async def _export(app: Any, n: int) -> dict[str, float]:
    """A full CSV export against reading the same entities through NGSI-LD pages of 1,000,
    each after the last id of the one before (``orderBy=id&q=id>"..."``: as the export pages)."""
    started = time.perf_counter()
    last = ""
    read = 0
    while True:
        query = f"type={TYPE}&limit=1000&orderBy=id"
        if last:
            query += "&q=" + quote(f'id>"{last}"')
        body = await _get(app, "/ngsi-ld/v1/entities", query)
        page = orjson.loads(body)
        read += len(page)
        if len(page) < 1000:
            break
        last = page[-1]["id"]
    assert read == n, (read, n)
    query_s = time.perf_counter() - started
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
    before, _ = _memory()
    started = time.perf_counter()
    status, size = await _call(app, "GET", f"/opendata/{TYPE}.csv")
    export_s = time.perf_counter() - started
    assert status == 200
    _, peak = _memory()
    return {
        "entities": n,
        "csv_bytes": size,
        "export_s": export_s,
        "query_pages_s": query_s,
        "rate_ratio": query_s / export_s,
        "rss_growth_mb": (peak - before) / 1024,
    }


async def run(entities: int, export_entities: int, rounds: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(
                store=f"sqlite:///{Path(tmp) / 'pages.db'}", history=False, dashboard=False, **QUIET
            )
        )
        async with app.router.lifespan_context(app):
            await _load(app, entities)
            pages = await _pages(app, entities, rounds, calls)
        app = create_app(
            Settings(
                store=f"sqlite:///{Path(tmp) / 'export.db'}",
                history=False,
                dashboard=False,
                **QUIET,
            )
        )
        async with app.router.lifespan_context(app):
            await _load(app, export_entities)
            export = await _export(app, export_entities)
    best = {name: max(v) for name, v in pages.items()}
    median = {name: statistics.median(v) for name, v in pages.items()}
    return {
        "entities": entities,
        "rounds": rounds,
        "calls": calls,
        "rps_best": best,
        "rps_median": median,
        "ratio_page": median["ogc page"] / median["ngsi-ld page"],
        "ratio_bbox": median["ogc bbox"] / median["ngsi-ld bbox"],
        "export": export,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--export-entities", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, small data")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.smoke:
        args.entities, args.export_entities, args.rounds, args.calls = 500, 1500, 2, 10
    result = asyncio.run(run(args.entities, args.export_entities, args.rounds, args.calls))
    print(f"open data bench: {result['entities']} entities, {result['rounds']} rounds of "
          f"{result['calls']} calls (in-process, requests/s, median of rounds)")  # fmt: skip
    for name, rps in result["rps_median"].items():
        print(f"  {name:<14} {rps:>9.1f}  (best {result['rps_best'][name]:.1f})")
    print(
        f"  OGC items / NGSI-LD query, limit 100:        {result['ratio_page']:.2f} (target >= 0.8)"
    )
    print(
        f"  OGC items / NGSI-LD query, limit 100 + bbox: {result['ratio_bbox']:.2f} (target >= 0.8)"
    )
    ex = result["export"]
    print(
        f"  CSV export of {ex['entities']} entities: {ex['export_s']:.1f} s, "
        f"{ex['csv_bytes'] / 1e6:.1f} MB; rate / NGSI-LD pages of 1000: {ex['rate_ratio']:.2f}; "
        f"RSS growth {ex['rss_growth_mb']:.1f} MB (target < 50)"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
