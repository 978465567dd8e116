"""A year of a city (issue #21): history loaded and queried at scale, ratios to floors measured
in the same run.

    python3 bench/history_bench.py                       # 1,000 sensors x 8,760 h x 4 = 35 M
    python3 bench/history_bench.py --months 1            # the one-month variant (2.98 M)
    python3 bench/history_bench.py --months 1 --sensors 50 --requests 20   # a quick run

One command: it starts ``cityhub serve`` on a database in ``--workdir`` (kept, so an
interrupted load resumes where it stopped: finished (sensor, month) units are listed in
``progress.txt``; a unit cut off half-way is sent again, which changes nothing, since posting
an instance with the same observedAt replaces it, clause 5.6.11), creates the sensors
(``AirQualityObserved``, one of Seongnam's 50 dongs each, ``refAdministrativeArea`` to the
dong, ``address.district`` its gu) by batch upsert, and loads their hourly ``pm25``, ``pm10``,
``no2`` and ``o3`` of 2025 through the temporal API (``POST /temporal/entities/{id}/attrs``,
one request per sensor and month, ``--concurrency`` requests at a time; ``--path upsert``
loads the same rows by batch upsert of every sensor's hour with observedAt instead, for
comparison). Then the queries the dashboard and the services make, ``--requests`` each, one at
a time, p50/p95:

1. one sensor's daily means for the year (``aggrMethods=avg``, ``P1D``);
2. hourly means for a week over the sensors of one dong (``q=refAdministrativeArea==…``);
3. ``lastN=24`` for 100 entities of a type query;
4. a district's monthly max (``q=address[district]==…``, ``P1M``) over the year, whose answer
   grows with the history (a period per sensor and month loaded);
5. the same over the newest month loaded alone: an answer of the same size (a period per
   sensor) whatever the history, so its year/month ratio says whether the cost follows the
   answer or the history.

In the same run: the storage floor, the same rows inserted by raw SQLite (WAL,
``synchronous=NORMAL``, as cityhub) in transactions of one unit (a sensor's month), into (a)
the smallest table that answers these queries (``(series, t) -> value``, ``WITHOUT ROWID``) and
(b) the one-table layout cityhub had before SQLite migration 0014 (``attribute_instances``,
its columns and two indexes; 0014 keeps series and compact rows clustered on (series, time)):
(a) is the floor of rate and bytes, (b) says how much of the gap that layout was. Bytes per
instance on disk count indexes (``dbstat``). The hub's RSS (VmRSS and RssAnon,
the latter without the mapped pages of the database file) is sampled while loading and while
querying. ``--out`` writes every figure as JSON.

The hub runs with ``temporal_instance_limit = 10000`` so that queries 2-4 answer whole (2,400
to ~4,000 instances or periods; 1,000 by default, then 206 pages) and with the air-quality and
indicator services off (this measures history, not the computations a real feed would trigger:
the indicators' late-reading check took 9% of the hub's samples while loading).
"""

from __future__ import annotations

import argparse
import calendar
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from suite import API, free_port, rss_mb, wait_up  # noqa: E402

from cityhub.demo.geography import Geography  # noqa: E402

YEAR = 2025
ATTRS = ("pm25", "pm10", "no2", "o3")
TYPE = "AirQualityObserved"
TARGETS_MS = {
    "daily means, 1 sensor, 1 year": 50,
    "hourly means, 1 dong, 1 week": 200,
    "lastN=24, 100 entities": 100,
    "monthly max, 1 district": 200,
    "monthly max, 1 district, 1 month": 200,
}
LOAD_TARGET = 50_000  # attribute instances/s
BYTES_TARGET = 40
RSS_TARGET_MB = 300


# ---- the data -------------------------------------------------------------------------------


def sensor_id(i: int) -> str:
    return f"urn:ngsi-ld:{TYPE}:history-bench-{i:05d}"


def month_hours(month: int) -> list[str]:
    days = calendar.monthrange(YEAR, month)[1]
    return [
        f"{YEAR}-{month:02d}-{d:02d}T{h:02d}:00:00Z" for d in range(1, days + 1) for h in range(24)
    ]


def sensors(n: int) -> tuple[list[dict[str, Any]], dict[str, list[int]], dict[str, list[int]]]:
    """The sensors' entities, and which sensors each dong and each gu holds."""
    geo = Geography.load()
    dongs = [d for d in geo.districts if d.level == "dong"]
    gus = {d.gu_code: d.name_en for d in geo.districts if d.level == "gu"}
    rnd = random.Random(21)
    docs, by_dong, by_gu = [], {}, {}
    for i in range(n):
        dong = dongs[i % len(dongs)]
        lon, lat = dong.random_point(rnd)
        area = f"urn:ngsi-ld:AdministrativeArea:seongnam:{dong.code}"
        by_dong.setdefault(area, []).append(i)
        by_gu.setdefault(gus[dong.gu_code], []).append(i)
        docs.append(
            {
                "id": sensor_id(i),
                "type": TYPE,
                "address": {
                    "type": "Property",
                    "value": {"addressLocality": "Seongnam-si", "district": gus[dong.gu_code]},
                },
                "refAdministrativeArea": {"type": "Relationship", "object": area},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [lon, lat]},
                },
            }
        )
    return docs, by_dong, by_gu


def values(sensor: int, month: int, hours: int) -> list[list[float]]:
    """Per attribute, ``hours`` values: a daily cycle plus noise, the same on every run."""
    rnd = random.Random(sensor * 100 + month)
    base = [18.0, 35.0, 0.025, 0.03]
    out = []
    for a, b in enumerate(base):
        out.append(
            [
                round(
                    b * (1 + 0.4 * ((h % 24) - 12) / 12 + rnd.uniform(-0.3, 0.3)), 3 if a > 1 else 1
                )
                for h in range(hours)
            ]
        )
    return out


def unit_body(sensor: int, month: int, times: list[str]) -> bytes:
    series = values(sensor, month, len(times))
    return orjson.dumps(
        {
            attr: [
                {"type": "Property", "value": v, "observedAt": t}
                for v, t in zip(series[a], times, strict=True)
            ]
            for a, attr in enumerate(ATTRS)
        }
    )


# ---- HTTP -----------------------------------------------------------------------------------


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=600
                )
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class RssSampler(threading.Thread):
    """Largest VmRSS and RssAnon of the hub per phase, sampled every half second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.phase = "start"
        self.peaks: dict[str, dict[str, float]] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.sample()

    def sample(self) -> None:
        try:
            vm, anon = rss_mb(self.pid), rss_mb(self.pid, "RssAnon")
        except OSError:
            return
        peak = self.peaks.setdefault(self.phase, {"VmRSS": 0.0, "RssAnon": 0.0})
        peak["VmRSS"] = max(peak["VmRSS"], vm)
        peak["RssAnon"] = max(peak["RssAnon"], anon)


def start_hub(
    work: Path, port: int, store: str | None = None, code: Path = HERE.parent, workers: int = 1
) -> subprocess.Popen[bytes]:
    """``cityhub serve`` of the source tree ``code`` on the SQLite file in ``work``, or on
    ``store`` (a PostgreSQL URL), with ``workers`` processes (more than one: PostgreSQL)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "CITYHUB_TEMPORAL_INSTANCE_LIMIT": "10000",
        "CITYHUB_AIRQUALITY_SERVICE": "false",
        "CITYHUB_INDICATORS_SERVICE": "false",
        "CITYHUB_DASHBOARD": "false",
    }
    log = (work / "hub.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "cityhub",
        "serve",
        *(["--db", str(work / "hub.db")] if store is None else ["--store", store]),
        "--port",
        str(port),
        *(["--workers", str(workers)] if workers > 1 else []),
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    wait_up(f"http://127.0.0.1:{port}/health", proc, 300)
    return proc


# ---- loading --------------------------------------------------------------------------------


def create_sensors(client: Client, docs: list[dict[str, Any]]) -> None:
    for start in range(0, len(docs), 500):
        status, body = client.send(
            "POST", f"{API}/entityOperations/upsert", orjson.dumps(docs[start : start + 500])
        )
        if status not in (201, 204):
            raise SystemExit(f"creating the sensors: {status} {body[:300]!r}")


def units(n_sensors: int, months: int, path: str) -> Iterator[tuple[str, Callable[[Client], int]]]:
    """(key, send) per unit of work, in time order (a month of every sensor, then the next):
    ``send`` posts it and returns the number of attribute instances it carried."""
    for month in range(1, months + 1):
        times = month_hours(month)
        if path == "temporal":
            for s in range(n_sensors):

                def send(
                    client: Client, s: int = s, month: int = month, times: list[str] = times
                ) -> int:
                    body = unit_body(s, month, times)
                    where = f"{API}/temporal/entities/{sensor_id(s)}/attrs"
                    status, text = client.send("POST", where, body)
                    if status != 204:
                        raise SystemExit(f"append {sensor_id(s)} {month}: {status} {text[:300]!r}")
                    return len(times) * len(ATTRS)

                yield f"{s}:{month}", send
        else:
            series = {s: values(s, month, len(times)) for s in range(n_sensors)}
            for h in range(0, len(times), 24):

                def send(
                    client: Client,
                    h: int = h,
                    times: list[str] = times,
                    series: dict[int, list[list[float]]] = series,
                ) -> int:
                    done = 0
                    for k in range(h, min(h + 24, len(times))):
                        for start in range(0, n_sensors, 1000):
                            batch = [
                                {"id": sensor_id(s), "type": TYPE}
                                | {
                                    attr: {
                                        "type": "Property",
                                        "value": series[s][a][k],
                                        "observedAt": times[k],
                                    }
                                    for a, attr in enumerate(ATTRS)
                                }
                                for s in range(start, min(n_sensors, start + 1000))
                            ]
                            status, text = client.send(
                                "POST",
                                f"{API}/entityOperations/upsert?options=update",
                                orjson.dumps(batch),
                            )
                            if status not in (201, 204):
                                raise SystemExit(f"upsert {times[k]}: {status} {text[:300]!r}")
                            done += len(batch) * len(ATTRS)
                    return done

                yield f"upsert:{month}:{h}", send


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """The CPU time (user + system, all threads) process ``pid`` and its live descendants (the
    hub's workers) have used: what a load costs whatever share of the cores the machine's other
    work leaves it. ``reaped``: and the children that exited (a PostgreSQL postmaster's
    backends)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = _stat(p)
            todo += _children(p)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if reaped and p == pid:
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def vacuum_analyze(url: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    asyncio.run(run())


def postgres_cpu(url: str) -> Callable[[], float] | None:
    """The CPU seconds the PostgreSQL server of ``url`` has used so far (all its processes,
    exited backends included), when it runs on this machine; else None."""
    import asyncio

    import asyncpg

    async def postmaster() -> int:
        conn = await asyncpg.connect(url)
        try:  # the parent of this connection's backend, read while the backend lives
            return int(_stat(int(await conn.fetchval("SELECT pg_backend_pid()")))[1])
        finally:
            await conn.close()

    try:
        server = asyncio.run(postmaster())
        cpu_seconds(server, reaped=True)
    except OSError:
        return None
    return lambda: cpu_seconds(server, reaped=True)


def load(
    client: Client,
    work: Path,
    n_sensors: int,
    months: int,
    path: str,
    concurrency: int,
    rss: RssSampler,
    db_cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    progress = work / "progress.txt"
    done = set(progress.read_text().split()) if progress.exists() else set()
    todo = [(k, f) for k, f in units(n_sensors, months, path) if k not in done]
    total = n_sensors * sum(len(month_hours(m)) for m in range(1, months + 1)) * len(ATTRS)
    if done:
        print(f"resuming: {len(done)} units done before, {len(todo)} to go", flush=True)
    sent = 0
    cpu_before = cpu_seconds(rss.pid)
    db_before = db_cpu() if db_cpu else 0.0
    started = last = time.perf_counter()
    lock = threading.Lock()
    with progress.open("a") as log, ThreadPoolExecutor(concurrency) as pool:
        pending: set[Future[int]] = set()
        keys: dict[Future[int], str] = {}
        it = iter(todo)
        while True:
            while len(pending) < concurrency * 2:
                nxt = next(it, None)
                if nxt is None:
                    break
                fut = pool.submit(nxt[1], client)
                keys[fut] = nxt[0]
                pending.add(fut)
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                sent += fut.result()
                with lock:
                    log.write(keys.pop(fut) + "\n")
                    log.flush()
            now = time.perf_counter()
            if now - last >= 10:
                last = now
                rate = sent / (now - started)
                left = total - (len(done) * (total // max(1, len(done) + len(todo)))) - sent
                print(
                    f"  loaded {sent:,} instances this run ({rate:,.0f}/s), about {max(left, 0):,}"
                    f" to go, ~{max(left, 0) / max(rate, 1) / 60:.0f} min; hub RSS"
                    f" {rss_mb(rss.pid):.0f} MB ({rss_mb(rss.pid, 'RssAnon'):.0f} MB anon)",
                    flush=True,
                )
    took = time.perf_counter() - started
    cpu = cpu_seconds(rss.pid) - cpu_before
    db = db_cpu() - db_before if db_cpu else None
    return {
        "instances": sent,
        "seconds": took,
        "per_s": sent / took if took else None,
        "hub_cpu_us_per_instance": cpu / sent * 1e6 if sent else None,
        "db_cpu_us_per_instance": db / sent * 1e6 if sent and db is not None else None,
        "resumed_units": len(done),
        "total_instances": total,
    }


# ---- the storage floor ----------------------------------------------------------------------

_CITYHUB_LAYOUT = """
CREATE TABLE attribute_instances (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL,
  entity_id TEXT NOT NULL, attr TEXT NOT NULL, dataset_id TEXT NOT NULL DEFAULT '',
  instance_id TEXT NOT NULL, observed_at TEXT, created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL, deleted_at TEXT, instance TEXT NOT NULL, value_number REAL);
CREATE UNIQUE INDEX attribute_instances_id ON attribute_instances (tenant, instance_id);
CREATE INDEX attribute_instances_observed ON attribute_instances (tenant, entity_id, attr,
  observed_at);
"""


def storage_floor(work: Path, n_sensors: int, months: int, max_rows: int) -> dict[str, Any]:
    """The same rows by raw SQLite, one transaction per unit, into the smallest layout and into
    cityhub's; rate and bytes per row (dbstat: tables and indexes)."""
    out: dict[str, Any] = {}
    iri = "https://uri.etsi.org/ngsi-ld/default-context/"
    for layout in ("minimal", "cityhub"):
        db = work / f"floor-{layout}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if layout == "minimal":
            conn.execute(
                "CREATE TABLE series (id INTEGER PRIMARY KEY, entity_id TEXT, attr TEXT,"
                " UNIQUE (entity_id, attr))"
            )
            conn.execute(
                "CREATE TABLE h (series INTEGER, t INTEGER, value REAL,"
                " PRIMARY KEY (series, t)) WITHOUT ROWID"
            )
            conn.executemany(
                "INSERT INTO series VALUES (?, ?, ?)",
                [
                    (s * len(ATTRS) + a, sensor_id(s), iri + attr)
                    for s in range(n_sensors)
                    for a, attr in enumerate(ATTRS)
                ],
            )
            sql = "INSERT INTO h VALUES (?, ?, ?)"
        else:
            conn.executescript(_CITYHUB_LAYOUT)
            sql = (
                "INSERT INTO attribute_instances (tenant, entity_id, attr, dataset_id, instance_id,"
                " observed_at, created_at, modified_at, deleted_at, instance, value_number)"
                " VALUES (?, ?, ?, '', ?, ?, ?, ?, NULL, ?, ?)"
            )
        rows_done, took, cpu, n = 0, 0.0, 0.0, 0
        for month in range(1, months + 1):
            times = month_hours(month)
            epoch = [calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) for t in times]
            for s in range(n_sensors):
                if rows_done >= max_rows:
                    break
                series = values(s, month, len(times))
                if layout == "minimal":
                    rows: list[tuple[Any, ...]] = [
                        (s * len(ATTRS) + a, epoch[k], series[a][k])
                        for a in range(len(ATTRS))
                        for k in range(len(times))
                    ]
                else:
                    now = "2026-12-07T03:00:00.000000Z"
                    rows = []
                    for a, attr in enumerate(ATTRS):
                        for k, t in enumerate(times):
                            n += 1
                            v = series[a][k]
                            body = orjson.dumps(
                                {"type": "Property", "value": v, "observedAt": t}
                            ).decode()
                            rows.append(
                                (
                                    "",
                                    sensor_id(s),
                                    iri + attr,
                                    f"urn:ngsi-ld:instance:{n:032x}",
                                    t[:19] + ".000000Z",
                                    now,
                                    now,
                                    body,
                                    v,
                                )
                            )
                started, cpu_started = time.perf_counter(), time.thread_time()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
                took += time.perf_counter() - started
                cpu += time.thread_time() - cpu_started
                rows_done += len(rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = table_bytes(conn)
        conn.close()
        history = sum(
            v
            for k, v in sizes.items()
            if k in ("h", "attribute_instances") or k.startswith("attribute_instances_")
        )
        out[layout] = {
            "rows": rows_done,
            "rows_per_s": rows_done / took,
            "cpu_us_per_row": cpu / rows_done * 1e6,
            "bytes_per_row": history / rows_done,
            "file_bytes_per_row": db.stat().st_size / rows_done,
            "sizes": sizes,
        }
        db.unlink()
    return out


def postgres_floor(url: str, n_sensors: int, months: int, max_rows: int) -> dict[str, Any]:
    """The minimal layout's floor on PostgreSQL: the same rows, one transaction and one
    ``INSERT ... SELECT FROM unnest`` per unit, into ``(series, t) -> value`` (primary key on
    both, in a schema of its own); rate and bytes per row (``pg_total_relation_size``)."""
    import asyncio

    import asyncpg

    async def run() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "DROP SCHEMA IF EXISTS history_floor CASCADE; CREATE SCHEMA history_floor;"
                " CREATE TABLE history_floor.h (series integer, t timestamptz, value float8,"
                " PRIMARY KEY (series, t))"
            )
            rows_done, took = 0, 0.0
            for month in range(1, months + 1):
                times = month_hours(month)
                for s in range(n_sensors):
                    if rows_done >= max_rows:
                        break
                    series = values(s, month, len(times))
                    ids = [s * len(ATTRS) + a for a in range(len(ATTRS)) for _ in times]
                    ts = [t for _ in ATTRS for t in times]
                    vs = [v for a in range(len(ATTRS)) for v in series[a]]
                    started = time.perf_counter()
                    async with conn.transaction():
                        await conn.execute(
                            "INSERT INTO history_floor.h SELECT * FROM unnest($1::int4[],"
                            " $2::text[]::timestamptz[], $3::float8[])",
                            ids,
                            ts,
                            vs,
                        )
                    took += time.perf_counter() - started
                    rows_done += len(ids)
            await conn.execute("VACUUM ANALYZE history_floor.h")
            size = await conn.fetchval("SELECT pg_total_relation_size('history_floor.h')")
            await conn.execute("DROP SCHEMA history_floor CASCADE")
            return {
                "rows": rows_done,
                "rows_per_s": rows_done / took,
                "bytes_per_row": int(size) / rows_done,
            }
        finally:
            await conn.close()

    return asyncio.run(run())


def table_bytes(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        name: size
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
    }


# ---- the queries ----------------------------------------------------------------------------


def queries(
    n_sensors: int,
    months: int,
    by_dong: dict[str, list[int]],
    by_gu: dict[str, list[int]],
    count: int,
) -> dict[str, list[str]]:
    rnd = random.Random(5)
    year = f"timerel=between&timeAt={YEAR}-01-01T00:00:00Z&endTimeAt={YEAR + 1}-01-01T00:00:00Z"
    last_day = sum(calendar.monthrange(YEAR, m)[1] for m in range(1, months + 1))
    # the newest month loaded: an answer of one period per sensor, whatever the history
    following = f"{YEAR + months // 12}-{months % 12 + 1:02d}-01T00:00:00Z"
    last_month = f"timerel=between&timeAt={YEAR}-{months:02d}-01T00:00:00Z&endTimeAt={following}"
    q = urllib.parse.quote
    out: dict[str, list[str]] = {k: [] for k in TARGETS_MS}
    for _ in range(count):
        s = rnd.randrange(n_sensors)
        out["daily means, 1 sensor, 1 year"].append(
            f"{API}/temporal/entities/{sensor_id(s)}?attrs=pm25&options=aggregatedValues"
            f"&aggrMethods=avg&aggrPeriodDuration=P1D&{year}"
        )
        dong = rnd.choice(sorted(by_dong))
        day = rnd.randrange(last_day - 7)
        start = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm((YEAR, 1, 1, 0, 0, 0)) + day * 86400)
        )
        end = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ",
            time.gmtime(calendar.timegm((YEAR, 1, 1, 0, 0, 0)) + (day + 7) * 86400),
        )
        out["hourly means, 1 dong, 1 week"].append(
            f"{API}/temporal/entities?type={TYPE}&q={q(f'refAdministrativeArea=={json.dumps(dong)}')}"
            f"&attrs=pm25&options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1H"
            f"&timerel=between&timeAt={start}&endTimeAt={end}&limit=1000"
        )
        out["lastN=24, 100 entities"].append(
            f"{API}/temporal/entities?type={TYPE}&attrs=pm25&lastN=24&limit=100"
            f"&timerel=before&timeAt={YEAR + 1}-01-01T00:00:00Z"
            f"&offset={rnd.randrange(max(1, n_sensors - 100))}"
        )
        gu = rnd.choice(sorted(by_gu))
        district = (
            f"{API}/temporal/entities?type={TYPE}&q={q(f'address[district]=={json.dumps(gu)}')}"
        )
        out["monthly max, 1 district"].append(
            f"{district}&attrs=pm25&options=aggregatedValues&aggrMethods=max&aggrPeriodDuration=P1M"
            f"&{year}&limit=1000"
        )
        out["monthly max, 1 district, 1 month"].append(
            f"{district}&attrs=pm25&options=aggregatedValues&aggrMethods=max&aggrPeriodDuration=P1M"
            f"&{last_month}&limit=1000"
        )
    return out


def answer_size(body: bytes) -> int:
    """Periods or instances in an answer (of pm25)."""
    doc = orjson.loads(body)
    docs = doc if isinstance(doc, list) else [doc]
    n = 0
    for d in docs:
        pm = d.get("pm25") or {}
        for v in pm.values() if isinstance(pm, dict) else []:
            if isinstance(v, list):
                n += len(v)
        if isinstance(pm, list):
            n += len(pm)
    return n


def run_queries(client: Client, paths: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, reqs in paths.items():
        client.send("GET", reqs[0])  # warm
        times, sizes, entities = [], [], []
        for path in reqs:
            started = time.perf_counter()
            status, body = client.send("GET", path)
            times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"{name}: {status} {body[:300]!r} ({path})")
            sizes.append(answer_size(body))
            doc = orjson.loads(body)
            entities.append(len(doc) if isinstance(doc, list) else 1)
        times.sort()
        out[name] = {
            "requests": len(reqs),
            "p50_ms": statistics.median(times),
            "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
            "entities_per_answer": statistics.mean(entities),
            "values_per_answer": statistics.mean(sizes),
            "target_ms": TARGETS_MS[name],
        }
        print(
            f"  {name:32} p50 {out[name]['p50_ms']:7.1f} ms  p95 {out[name]['p95_ms']:7.1f} ms"
            f"  (target {TARGETS_MS[name]} ms; {out[name]['entities_per_answer']:.0f} entities,"
            f" {out[name]['values_per_answer']:.0f} values per answer)",
            flush=True,
        )
    return out


# ---- main -----------------------------------------------------------------------------------


_HISTORY_TABLES = ("attribute_instances", "history_series", "history_instances")


def hub_bytes(work: Path, instances: int, store: str | None = None) -> dict[str, Any]:
    if store is not None:
        return postgres_bytes(store, instances)
    conn = sqlite3.connect(f"file:{work / 'hub.db'}?mode=ro", uri=True)
    sizes = table_bytes(conn)
    conn.close()
    # the one-table layout before SQLite migration 0014, or the series and their rows after
    history = sum(v for k, v in sizes.items() if k.startswith(_HISTORY_TABLES))
    return {
        "history_bytes_per_instance": history / instances,
        "database_bytes_per_instance": sum(sizes.values()) / instances,
        "sizes": sizes,
    }


def postgres_bytes(url: str, instances: int) -> dict[str, Any]:
    """As :func:`hub_bytes` on PostgreSQL: ``pg_total_relation_size`` (table, indexes, TOAST;
    a partitioned table's partitions counted) of the schema's tables, after VACUUM."""
    import asyncio

    import asyncpg

    async def sizes() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE")
            rows = await conn.fetch(  # a partition counts under its partitioned table
                "SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text,"
                " sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
                " GROUP BY 1"
            )
            return {str(r[0]): int(r[1]) for r in rows}
        finally:
            await conn.close()

    found = asyncio.run(sizes())
    history = sum(v for k, v in found.items() if k.startswith(_HISTORY_TABLES))
    return {
        "history_bytes_per_instance": history / instances,
        "database_bytes_per_instance": sum(found.values()) / instances,
        "sizes": found,
    }


def report(run: dict[str, Any]) -> str:
    nan = {"rows_per_s": float("nan"), "bytes_per_row": float("nan"), "rows": 0}
    floor = run.get("floor") or {"minimal": nan, "cityhub": nan}
    least, layout = floor["minimal"], floor["cityhub"]
    ld, b = run["load"], run["bytes"]
    lines = [
        f"history bench: {run['sensors']} sensors x {run['months']} months x {len(ATTRS)}"
        f" attributes = {ld['total_instances']:,} instances, loaded by {run['path']}"
    ]
    if ld["per_s"]:
        rate = ld["per_s"]
        lines.append(
            f"load: {rate:,.0f} instances/s this run ({ld['instances']:,} in"
            f" {ld['seconds']:.0f} s; {ld['resumed_units']} units done before)"
            f" = {rate / least['rows_per_s']:.3f} of the minimal floor"
            f" ({least['rows_per_s']:,.0f} rows/s), {rate / layout['rows_per_s']:.3f} of"
            f" cityhub's layout in raw SQL ({layout['rows_per_s']:,.0f} rows/s);"
            f" target {LOAD_TARGET:,}/s"
        )
        hub_cpu, floor_cpu = ld.get("hub_cpu_us_per_instance"), least.get("cpu_us_per_row")
        if hub_cpu and floor_cpu:
            lines.append(
                f"load CPU: {hub_cpu:.2f} us per instance (the hub, all its threads) ="
                f" x{hub_cpu / floor_cpu:.2f} the minimal floor's {floor_cpu:.2f} us per row"
                f" (its thread's CPU); at one core each, {floor_cpu / hub_cpu:.3f} of its rate"
            )
        if hub_cpu and ld.get("db_cpu_us_per_instance") is not None:
            db_cpu = ld["db_cpu_us_per_instance"]
            lines.append(
                f"load CPU per instance: hub {hub_cpu:.2f} us + PostgreSQL {db_cpu:.2f} us"
                f" (its server's processes); per core: {1e6 / hub_cpu:,.0f} instances/s of"
                f" hub, {1e6 / max(db_cpu, 1e-9):,.0f} of PostgreSQL"
            )
    pg = run.get("postgres_floor")
    if pg and ld["per_s"]:
        lines.append(
            f"PostgreSQL: load = {ld['per_s'] / pg['rows_per_s']:.3f} of its minimal floor"
            f" ({pg['rows_per_s']:,.0f} rows/s, same run); disk ="
            f" x{b['history_bytes_per_instance'] / pg['bytes_per_row']:.1f} its floor"
            f" ({pg['bytes_per_row']:.1f} bytes per row, primary key included)"
        )
    per = b["history_bytes_per_instance"]
    lines.append(
        f"disk: {per:.1f} bytes per instance (history table and its indexes; the whole database"
        f" {b['database_bytes_per_instance']:.1f}) = x{per / least['bytes_per_row']:.1f} the"
        f" minimal floor ({least['bytes_per_row']:.1f}), x{per / layout['bytes_per_row']:.2f}"
        f" cityhub's layout in raw SQL ({layout['bytes_per_row']:.1f}); target {BYTES_TARGET}"
        f" (floor rows: {least['rows']:,})"
    )
    lines.append("| query | p50 ms | p95 ms | target p95 | met | entities | values |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, r in run["queries"].items():
        met = "yes" if r["p95_ms"] <= r["target_ms"] else "no"
        lines.append(
            f"| {name} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['target_ms']} | {met}"
            f" | {r['entities_per_answer']:.0f} | {r['values_per_answer']:.0f} |"
        )
    for phase, peak in run["rss_mb"].items():
        lines.append(
            f"hub RSS peak while {phase}: {peak['VmRSS']:.0f} MB ({peak['RssAnon']:.0f} MB"
            f" anon); target < {RSS_TARGET_MB}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--months", type=int, default=12, choices=range(1, 13))
    ap.add_argument("--path", choices=("temporal", "upsert"), default="temporal")
    ap.add_argument("--concurrency", type=int, default=3, help="requests in flight while loading")
    ap.add_argument("--requests", type=int, default=100, help="per query")
    ap.add_argument("--floor-rows", type=int, default=3_000_000, help="most rows the floor inserts")
    ap.add_argument(
        "--workdir",
        default=None,
        help="kept between runs (resume); default /tmp/cityhub-history-<sensors>x<months>",
    )
    ap.add_argument("--fresh", action="store_true", help="start from an empty workdir")
    ap.add_argument("--port", type=int, default=18400, help="0: any free port")
    ap.add_argument("--skip", default="", help="comma list of: load,floor,queries")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--store",
        default=None,
        help="run the hub on this PostgreSQL (postgresql://..., PostGIS in public) in a fresh"
        " schema per workdir instead of SQLite",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="hub worker processes (more than 1 needs --store); RSS is the parent's",
    )
    ap.add_argument(
        "--code",
        default=str(HERE.parent),
        help="the cityhub source tree the hub runs (before/after)",
    )
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    work = Path(args.workdir or f"/tmp/cityhub-history-{args.sensors}x{args.months}-{args.path}")
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    docs, by_dong, by_gu = sensors(args.sensors)
    run: dict[str, Any] = {
        "sensors": args.sensors,
        "months": args.months,
        "path": args.path,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    store = None
    if args.store:
        from suite import fresh_postgres

        schema = "history_" + work.name.replace("-", "_")
        url = (work / "store.txt").read_text() if (work / "store.txt").exists() else None
        store = url or fresh_postgres(args.store, schema)
        (work / "store.txt").write_text(store)
        run["store"] = "postgresql"
    if args.workers > 1 and not store:
        raise SystemExit("--workers above 1 needs --store postgresql://...")
    run["workers"] = args.workers
    port = args.port or free_port()
    proc = start_hub(work, port, store, Path(args.code), args.workers)
    rss = RssSampler(proc.pid)
    rss.start()
    client = Client(port)
    try:
        rss.phase = "loading"
        if not (work / "progress.txt").exists():
            create_sensors(client, docs)
            (work / "progress.txt").touch()
        if "load" in skip:
            total = (
                args.sensors
                * sum(len(month_hours(m)) for m in range(1, args.months + 1))
                * len(ATTRS)
            )
            run["load"] = {
                "instances": 0,
                "seconds": 0,
                "per_s": None,
                "resumed_units": 0,
                "total_instances": total,
            }
        else:
            print(
                f"loading {args.sensors} sensors x {args.months} months ({args.path}) ...",
                flush=True,
            )
            run["load"] = load(
                client,
                work,
                args.sensors,
                args.months,
                args.path,
                args.concurrency,
                rss,
                postgres_cpu(store) if store else None,
            )
        rss.phase = "querying"
        if store and "queries" not in skip:
            # what autovacuum does within minutes of a bulk load; without it the first queries
            # after the load were planned on empty-table statistics (seconds, not ms)
            vacuum_analyze(store)
        if "queries" not in skip:
            print("queries ...", flush=True)
            db_cpu = postgres_cpu(store) if store else None
            before = (cpu_seconds(proc.pid), db_cpu() if db_cpu else 0.0)
            run["queries"] = run_queries(
                client, queries(args.sensors, args.months, by_dong, by_gu, args.requests)
            )
            asked = sum(q["requests"] for q in run["queries"].values())
            run["queries_cpu_ms_per_request"] = {
                "hub": (cpu_seconds(proc.pid) - before[0]) / asked * 1e3,
                "db": (db_cpu() - before[1]) / asked * 1e3 if db_cpu else None,
            }
            print(f"  CPU per request (all five queries): {run['queries_cpu_ms_per_request']}")
        else:
            run["queries"] = {}
        rss.sample()
    finally:
        rss.stopped.set()
        proc.terminate()
        proc.wait(60)
    run["rss_mb"] = rss.peaks
    run["bytes"] = hub_bytes(work, run["load"]["total_instances"], store)
    if "floor" not in skip:
        print("storage floor ...", flush=True)
        run["floor"] = storage_floor(work, args.sensors, args.months, args.floor_rows)
        if args.store:
            print("PostgreSQL floor ...", flush=True)
            run["postgres_floor"] = postgres_floor(
                args.store, args.sensors, args.months, args.floor_rows
            )
    print(report(run))
    if args.out:
        Path(args.out).write_text(json.dumps(run, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
