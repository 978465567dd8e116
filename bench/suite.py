"""cityhub's benchmark suite: one command, fresh stores, floors measured in the same run.

    python3 bench/suite.py                      # 10k and 100k entities, 10 s per scenario
    python3 bench/suite.py --sizes 10000 --duration 5
    python3 bench/suite.py --smoke              # a few seconds, small data (CI runs this)
    python3 bench/suite.py --sizes 10000 --store postgresql://... --workers 1,2   # + PostgreSQL

For every data set size it starts ``cityhub serve`` on a fresh SQLite file, preloads the entities
by batch upsert (the template of Stellio's public load tests: 6 properties, two of them
multi-instance with datasetId, one with a sub-property, 1 relationship, 1 GeoProperty point),
adds history to a few of them, and drives each scenario with wrk (10 connections). In the same
run it measures two floors: the HTTP floor (``bench/floor.py``, a bare ASGI app under the same
uvicorn, loop and HTTP parser, same worker count) and the storage floor (raw SQLite inserts and
point selects of the same documents, in this process). Figures are printed as ratios to their
floor and to retrieve-by-id; absolute numbers are in the JSON written with ``--out``. Needs wrk
(``apt-get install wrk``); nothing else beyond cityhub itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
API = "/ngsi-ld/v1"
BOX = (127.02776, 37.33337, 127.1958, 37.47481)  # Seongnam-si, lon/lat
TYPES = 10
REL = "urn:ngsi-ld:Station:{}"

# ---- the data ---------------------------------------------------------------------------------


def entity(i: int, rnd: random.Random, etype: str | None = None) -> dict[str, Any]:
    """The Stellio load-test template: 6 properties, 1 relationship, 1 GeoProperty."""
    v = [round(rnd.uniform(0, 100), 2) for _ in range(5)]
    return {
        "id": f"urn:ngsi-ld:BenchEntity:{i}",
        "type": etype or f"BenchType{i % TYPES}",
        "name": {"type": "Property", "value": f"Station {i % 100}"},
        "description": {"type": "Property", "value": "A short description of my entity"},
        "stationCode": {"type": "Property", "value": f"BSS{i:06d}"},
        "ammonium": [
            {
                "type": "Property",
                "value": v[0],
                "observedAt": "2026-11-01T12:00:00Z",
                "unitCode": "M1",
                "datasetId": "urn:ngsi-ld:Dataset:Bottom",
            },
            {
                "type": "Property",
                "value": v[1],
                "observedAt": "2026-11-01T13:00:00Z",
                "unitCode": "M1",
                "datasetId": "urn:ngsi-ld:Dataset:Surface",
            },
        ],
        "dissolvedOxygen": {
            "type": "Property",
            "value": v[2],
            "observedAt": "2026-11-01T10:00:00Z",
            "unitCode": "M1",
            "sandreCode": {"type": "Property", "value": "1311"},
        },
        "waterTemperature": [
            {
                "type": "Property",
                "value": v[3],
                "observedAt": "2026-11-01T13:40:00Z",
                "unitCode": "CEL",
                "datasetId": "urn:ngsi-ld:Dataset:Bottom",
            },
            {
                "type": "Property",
                "value": v[4],
                "observedAt": "2026-11-01T13:40:00Z",
                "unitCode": "CEL",
                "datasetId": "urn:ngsi-ld:Dataset:Surface",
            },
        ],
        "isContainedIn": {"type": "Relationship", "object": REL.format(i % 50)},
        "location": {
            "type": "GeoProperty",
            "value": {
                "type": "Point",
                "coordinates": [
                    round(rnd.uniform(BOX[0], BOX[2]), 6),
                    round(rnd.uniform(BOX[1], BOX[3]), 6),
                ],
            },
        },
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


# ---- processes and HTTP -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url} after {seconds} s")


def request(base: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    data = None if body is None else (body if isinstance(body, bytes) else dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process in MB: ``VmRSS`` (all of it) or ``RssAnon`` (its own
    memory, without the pages of the memory-mapped database file, which the OS can reclaim)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- wrk --------------------------------------------------------------------------------------

_LUA = r"""
local reqs = %(requests)s
local create = %(create)s
local counter = 0
local created = 0
tid = 0 -- a global: setup() below overwrites it in each thread's own Lua state
function setup(thread)
  created = created + 1
  thread:set("tid", created)
end
function init(args)
  math.randomseed(42 + tid)
end
function request()
  if create then
    counter = counter + 1
    local id = "urn:ngsi-ld:BenchNew:" .. RUN .. "-" .. tid .. "-" .. counter
    return wrk.format("POST", create.path, create.headers, create.head .. id .. create.tail)
  end
  local r = reqs[math.random(#reqs)]
  return wrk.format(r[1], r[2], r[4], r[3])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%%d,"duration_us":%%d,"errors":%%d,' ..
    '"p50_ms":%%.3f,"p95_ms":%%.3f,"p99_ms":%%.3f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def _lua_str(s: str) -> str:
    return "[==[" + s + "]==]"


@dataclass
class Scenario:
    name: str
    floor: str  # "get" or "post": which HTTP floor it is measured against
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, body
    create: tuple[str, str, str] | None = None  # path, body head, body tail (id goes between)
    per_request: int = 1  # entities per request (batch upsert)


def answer_sizes(base: str, scenario: Scenario, sample: int = 30) -> float | None:
    """Mean number of entities a query scenario's answers hold (its first ``sample`` requests):
    a query whose answers grow with the data set costs more per request for that reason."""
    if scenario.floor != "get" or "/entities?" not in scenario.requests[0][1]:
        return None
    sizes = []
    for _method, path, _body in scenario.requests[:sample]:
        status, body = request(base, "GET", path)
        sizes.append(len(json.loads(body)) if status == 200 else 0)
    return sum(sizes) / len(sizes)


def run_wrk(
    base: str, scenario: Scenario, duration: int, connections: int, threads: int
) -> dict[str, Any]:
    headers = '{["Content-Type"]="application/json"}'
    reqs = "{" + ",".join(
        f"{{{_lua_str(m)},{_lua_str(p)},{_lua_str(b) if b else 'nil'},{headers}}}"
        for m, p, b in scenario.requests
    )
    reqs += "}"
    create = "false"
    if scenario.create:
        path, head, tail = scenario.create
        create = (
            f"{{path={_lua_str(path)},head={_lua_str(head)},tail={_lua_str(tail)},"
            f"headers={headers}}}"
        )
    lua = f'RUN = "{os.getpid()}-{time.monotonic_ns()}"\n' + _LUA % {
        "requests": reqs,
        "create": create,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--timeout",
                "30s",
                "-s",
                fh.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds if seconds else 0.0
    result["entities_per_s"] = result["rps"] * scenario.per_request
    return result


# ---- floors -----------------------------------------------------------------------------------


def http_floor(duration: int, connections: int, threads: int) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(HERE),
            "floor:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/", proc)
        body = dumps(entity(0, random.Random(1)))
        get = Scenario("floor GET", "get", [("GET", "/ngsi-ld/v1/entities/x", "")])
        post = Scenario("floor POST", "post", [("POST", "/ngsi-ld/v1/entities", body)])
        return {
            "get": run_wrk(base, get, duration, connections, threads),
            "post": run_wrk(base, post, duration, connections, threads),
        }
    finally:
        proc.terminate()
        proc.wait(10)


def storage_floor(n: int, docs: list[dict[str, Any]]) -> dict[str, float]:
    """Raw SQLite (WAL, synchronous=NORMAL, as cityhub): one insert per transaction, point
    selects, and inserts in transactions of 100: the same documents, no NGSI-LD work."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE e (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        texts = [(d["id"], dumps(d)) for d in docs[:n]]
        started = time.perf_counter()
        for eid, text in texts:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO e VALUES (?, ?)", (eid, text))
            conn.execute("COMMIT")
        insert = len(texts) / (time.perf_counter() - started)
        rnd = random.Random(3)
        ids = [texts[rnd.randrange(len(texts))][0] for _ in range(n)]
        started = time.perf_counter()
        for eid in ids:
            conn.execute("SELECT doc FROM e WHERE id = ?", (eid,)).fetchone()
        select = len(ids) / (time.perf_counter() - started)
        conn.execute("DELETE FROM e")
        started = time.perf_counter()
        for i in range(0, len(texts), 100):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO e VALUES (?, ?)", texts[i : i + 100])
            conn.execute("COMMIT")
        batch = len(texts) / (time.perf_counter() - started)
        conn.close()
    return {"insert_per_s": insert, "select_per_s": select, "batch_insert_per_s": batch}


# ---- cityhub ----------------------------------------------------------------------------------


def preload(base: str, size: int, batch: int = 500) -> float:
    rnd = random.Random(7)
    started = time.perf_counter()
    for start in range(0, size, batch):
        docs = [entity(i, rnd) for i in range(start, min(size, start + batch))]
        status, body = request(base, "POST", f"{API}/entityOperations/upsert", docs)
        if status not in (201, 204):
            raise SystemExit(f"preload failed: {status} {body[:300]!r}")
    return size / (time.perf_counter() - started)


def add_history(base: str, entities: int, instances: int) -> None:
    """``instances`` hourly values of dissolvedOxygen for the first ``entities`` entities."""
    rnd = random.Random(9)
    for i in range(entities):
        values = [
            {
                "type": "Property",
                "value": round(rnd.uniform(0, 100), 2),
                "observedAt": _hour(k),
            }
            for k in range(instances)
        ]
        eid = f"urn:ngsi-ld:BenchEntity:{i}"
        status, body = request(
            base, "POST", f"{API}/temporal/entities/{eid}/attrs", {"dissolvedOxygen": values}
        )
        if status != 204:
            raise SystemExit(f"history preload failed: {status} {body[:300]!r}")


def _hour(k: int) -> str:
    day, hour = divmod(k, 24)
    return f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{hour:02d}:00:00Z"


def scenarios(size: int, history_entities: int) -> list[Scenario]:
    rnd = random.Random(11)

    def some_id() -> str:
        return f"urn:ngsi-ld:BenchEntity:{rnd.randrange(size)}"

    pool = range(2000)
    out = [
        Scenario("retrieve", "get", [("GET", f"{API}/entities/{some_id()}", "") for _ in pool]),
        Scenario(
            "query type+q",
            "get",
            [
                (
                    "GET",
                    f"{API}/entities?type=BenchType{rnd.randrange(TYPES)}"
                    f"&q=dissolvedOxygen>{rnd.randrange(90)};name==%22Station%20{rnd.randrange(100)}%22"
                    "&limit=100",
                    "",
                )
                for _ in pool
            ],
        ),
        Scenario(
            "query type+rel",
            "get",
            [
                (
                    "GET",
                    f"{API}/entities?type=BenchType{rnd.randrange(TYPES)}"
                    f"&q=isContainedIn==%22{REL.format(rnd.randrange(50))}%22&limit=100",
                    "",
                )
                for _ in pool
            ],
        ),
        Scenario(
            "geo near 2 km",
            "get",
            [
                (
                    "GET",
                    f"{API}/entities?type=BenchType{rnd.randrange(TYPES)}"
                    "&georel=near;maxDistance==2000&geometry=Point&coordinates="
                    f"[{rnd.uniform(BOX[0], BOX[2]):.5f},{rnd.uniform(BOX[1], BOX[3]):.5f}]",
                    "",
                )
                for _ in pool
            ],
        ),
        Scenario(
            "temporal retrieve",
            "get",
            [
                (
                    "GET",
                    f"{API}/temporal/entities/urn:ngsi-ld:BenchEntity:"
                    f"{rnd.randrange(history_entities)}?attrs=dissolvedOxygen&lastN=100",
                    "",
                )
                for _ in pool
            ],
        ),
        Scenario(
            "temporal aggregated",
            "get",
            [
                (
                    "GET",
                    f"{API}/temporal/entities/urn:ngsi-ld:BenchEntity:"
                    f"{rnd.randrange(history_entities)}?attrs=dissolvedOxygen"
                    "&options=aggregatedValues&aggrPeriodDuration=P1D&aggrMethods="
                    f"{rnd.choice(['avg', 'min', 'max', 'sum', 'totalCount', 'stddev'])}"
                    "&timerel=after&timeAt=2026-01-01T00:00:00Z",
                    "",
                )
                for _ in pool
            ],
        ),
        Scenario(
            "partial attr update",
            "post",
            [
                (
                    "PATCH",
                    f"{API}/entities/{some_id()}/attrs/dissolvedOxygen",
                    dumps(
                        {
                            "type": "Property",
                            "value": round(rnd.uniform(0, 100), 2),
                            "observedAt": "2026-11-22T10:00:00Z",
                        }
                    ),
                )
                for _ in pool
            ],
        ),
        Scenario(
            "update attrs",
            "post",
            [
                (
                    "PATCH",
                    f"{API}/entities/{some_id()}/attrs",
                    dumps(
                        {
                            "name": {"type": "Property", "value": f"Station {rnd.randrange(100)}"},
                            "dissolvedOxygen": {
                                "type": "Property",
                                "value": round(rnd.uniform(0, 100), 2),
                                "observedAt": "2026-11-22T10:00:00Z",
                            },
                        }
                    ),
                )
                for _ in pool
            ],
        ),
    ]
    template = dumps(entity(0, random.Random(5), "BenchNew"))
    head, tail = template.split('"urn:ngsi-ld:BenchEntity:0"')
    out.append(Scenario("create", "post", create=(f"{API}/entities", head + '"', '"' + tail)))
    batches = []
    for _ in range(50):
        start = rnd.randrange(max(1, size - 100))
        batches.append(
            (
                "POST",
                f"{API}/entityOperations/upsert",
                dumps([entity(i, rnd) for i in range(start, start + min(100, size))]),
            )
        )
    out.append(Scenario("batch upsert 100", "post", batches, per_request=min(100, size)))
    return out


ONLY: set[str] = set()  # --only: the scenarios to run (empty: all)


def run_size(
    size: int,
    duration: int,
    connections: int,
    threads: int,
    history: tuple[int, int],
    tmp: Path,
    store: str | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """One data set size on a fresh store: an SQLite file in ``tmp``, or ``store`` (a fresh
    PostgreSQL schema, ``fresh_postgres``) served by ``workers`` processes."""
    port = free_port()
    where = ["--db", str(tmp / f"cityhub-{size}.db")] if store is None else ["--store", store]
    env = dict(os.environ, CITYHUB_TEMPORAL_INSTANCE_LIMIT="1000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityhub", "serve", *where, "--port", str(port)]
        + ["--workers", str(workers)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + f"{API}/types", proc)
        print(f"  preloading {size} entities ...", file=sys.stderr)
        upsert_rate = preload(base, size)
        add_history(base, *history)
        if store is not None:
            analyze(store)
        rss = rss_mb(proc.pid)
        results: dict[str, Any] = {"preload_entities_per_s": upsert_rate, "rss_mb": rss}
        for sc in scenarios(size, history[0]):
            if ONLY and sc.name not in ONLY:
                continue
            print(f"  {sc.name} ...", file=sys.stderr)
            results[sc.name] = run_wrk(base, sc, duration, connections, threads)
            results[sc.name]["floor"] = sc.floor
            answered = answer_sizes(base, sc)
            if answered is not None:
                results[sc.name]["entities_per_answer"] = answered
        results["rss_mb_after"] = rss_mb(proc.pid)
        results["rss_anon_mb_after"] = rss_mb(proc.pid, "RssAnon")
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def fresh_postgres(url: str, name: str) -> str:
    """``url`` with its tables in a new, empty schema ``name`` (PostGIS stays in ``public``,
    where it must already be installed), so every run starts from a fresh store."""
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE; CREATE SCHEMA "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{url}{'&' if '?' in url else '?'}search_path={name},public"


def analyze(url: str) -> None:
    """Planner statistics for the freshly loaded tables, as autovacuum gathers them within a
    minute of a bulk load in a running city: measured without them, a geo-query right after
    the preload was planned as one GiST scan per entity (seconds per request)."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(run())


def report_backends(run: dict[str, Any]) -> str:
    """PostgreSQL runs as ratios to SQLite's, measured in the same run."""
    lines = [
        "",
        "| scenario | size | SQLite rps | "
        + " | ".join(f"{b} rps | {b} / SQLite" for b in run["backends"])
        + " |",
        "|---|---|---|" + "---|---|" * len(run["backends"]),
    ]
    for size, base in run["sizes"].items():
        for name, r in base.items():
            if not isinstance(r, dict):
                continue
            cells = [f"{r['rps']:.0f}"]
            for res in run["backends"].values():
                other = res[size][name]["rps"]
                cells.append(f"{other:.0f} | {other / max(r['rps'], 1e-9):.2f}")
            lines.append(f"| {name} | {size} | {' | '.join(cells)} |")
    for backend, res in run["backends"].items():
        for size in res:
            rate = res[size]["preload_entities_per_s"]
            ratio = rate / run["sizes"][size]["preload_entities_per_s"]
            lines.append(
                f"{backend} size {size}: preload {rate:.0f} entities/s ({ratio:.2f} of SQLite)"
            )
    return "\n".join(lines)


# ---- report -----------------------------------------------------------------------------------


def report(run: dict[str, Any]) -> str:
    floor = run["floors"]["http"]
    storage = run["floors"]["storage"]
    sizes = [s for s in run["sizes"]]
    lines = [
        f"HTTP floor (bare ASGI, same server): GET {floor['get']['rps']:.0f} rps, "
        f"POST {floor['post']['rps']:.0f} rps; storage floor (raw SQLite): "
        f"{storage['insert_per_s']:.0f} inserts/s, {storage['select_per_s']:.0f} selects/s, "
        f"{storage['batch_insert_per_s']:.0f} batched inserts/s",
        "",
        "| scenario | size | rps | / HTTP floor | / retrieve | p95 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        res = run["sizes"][size]
        retrieve = res["retrieve"]["rps"] if "retrieve" in res else float("nan")
        for name, r in res.items():
            if not isinstance(r, dict):
                continue
            fl = floor[r["floor"]]["rps"]
            rate = f"{r['rps']:.0f}"
            if r.get("entities_per_s", r["rps"]) != r["rps"]:
                rate += f" ({r['entities_per_s']:.0f} entities/s)"
            lines.append(
                f"| {name} | {size} | {rate} | {r['rps'] / fl:.3f} | {r['rps'] / retrieve:.3f} "
                f"| {r['p95_ms']:.1f} | {r['errors']} |"
            )
    lines.append("")
    for size in sizes:
        res = run["sizes"][size]
        lines.append(
            f"size {size}: preload {res['preload_entities_per_s']:.0f} entities/s "
            f"({res['preload_entities_per_s'] / storage['batch_insert_per_s']:.3f} of the storage "
            f"floor's batched inserts); RSS {res['rss_mb']:.0f} MB after preload, "
            f"{res['rss_mb_after']:.0f} MB at the end ({res['rss_anon_mb_after']:.0f} MB of it "
            "not the mapped database file)"
        )
    if len(sizes) >= 2:
        small, big = run["sizes"][sizes[0]], run["sizes"][sizes[-1]]
        lines.append("")
        lines.append(f"growth {sizes[0]} -> {sizes[-1]} entities (rps ratio, p95 ratio):")
        for name, r in big.items():
            if isinstance(r, dict) and name in small:
                answers = ""
                if "entities_per_answer" in r and "entities_per_answer" in small[name]:
                    answers = (
                        f" (entities per answer {small[name]['entities_per_answer']:.1f} -> "
                        f"{r['entities_per_answer']:.1f})"
                    )
                lines.append(
                    f"  {name}: rps x{r['rps'] / small[name]['rps']:.2f}, "
                    f"p95 x{r['p95_ms'] / max(small[name]['p95_ms'], 1e-9):.2f}{answers}"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="data set sizes, comma-separated")
    ap.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--history", default="20,1000", help="ENTITIES,INSTANCES of preloaded history")
    ap.add_argument("--out", default=None, help="write the raw results as JSON here")
    ap.add_argument("--smoke", action="store_true", help="tiny and fast: for CI")
    ap.add_argument("--only", default="", help="run only these scenarios (comma-separated names)")
    ap.add_argument(
        "--store",
        default=None,
        help="also run on this PostgreSQL (postgresql://..., PostGIS in public; a fresh schema "
        "per size and worker count), reported as ratios to SQLite in the same run",
    )
    ap.add_argument("--workers", default="1", help="worker counts for the --store runs, e.g. 1,2")
    args = ap.parse_args(argv)
    ONLY.update(name.strip() for name in args.only.split(",") if name.strip())
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    history = tuple(int(x) for x in args.history.split(","))
    duration = args.duration
    if args.smoke:
        sizes, duration, history = [300], 1, (3, 48)
    assert len(history) == 2
    run: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "settings": {"duration": duration, "connections": args.connections},
    }
    print("HTTP floor ...", file=sys.stderr)
    docs = [entity(i, random.Random(i)) for i in range(max(sizes[0], 1000))]
    run["floors"] = {
        "http": http_floor(duration, args.connections, args.threads),
        "storage": storage_floor(min(len(docs), 5000), docs),
    }
    run["sizes"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            print(f"cityhub with {size} entities", file=sys.stderr)
            run["sizes"][size] = run_size(
                size, duration, args.connections, args.threads, (history[0], history[1]), Path(tmp)
            )
        run["backends"] = {}
        for workers in [int(w) for w in args.workers.split(",")] if args.store else []:
            backend = run["backends"][f"PostgreSQL {workers}w"] = {}
            for size in sizes:
                print(f"PostgreSQL, {workers} workers, {size} entities", file=sys.stderr)
                url = fresh_postgres(args.store, f"cityhub_bench_{size}_{workers}")
                backend[size] = run_size(
                    size, duration, args.connections, args.threads,
                    (history[0], history[1]), Path(tmp), store=url, workers=workers,
                )  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(run, indent=2))
    print(report(run))
    if run["backends"]:
        print(report_backends(run))
    bad = [
        f"{size}/{name}"
        for res_by_size in [run["sizes"], *run["backends"].values()]
        for size, res in res_by_size.items()
        for name, r in res.items()
        if isinstance(r, dict) and (r["errors"] or not r["requests"])
    ]
    if bad:
        print(f"scenarios with errors or no requests: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
