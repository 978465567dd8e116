"""The entity write path's CPU, in-process (issue 21, target 3): what the SQLite writer thread
spends per upserted entity, per partial attribute update and per create, with history on, the
hub wired as ``cityhub serve`` wires it (starlette's TestClient, no HTTP server).

A shared machine's load changes rates and latencies by more than most changes do; the CPU time
a thread spends on a job changes much less, and its lower quartile less still. So this reports
the writer's CPU per job (``time.thread_time`` around each group commit: p25 and median), the
CPU of every thread of the process per entity, and for the updates the bytes the process read
and wrote per request (``/proc/self/io``: page reads the writer's cache missed, WAL frames).

    python3 bench/write_cpu.py                           # 3,000 entities, 40 batches of 100
    python3 bench/write_cpu.py --entities 100000 --keep /tmp/w100k.db   # build once ...
    python3 bench/write_cpu.py --entities 100000 --reuse /tmp/w100k.db  # ... measure again
    PYTHONPATH=/other/tree python3 bench/write_cpu.py    # another tree: alternate the two

``--smoke`` is what the test suite runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from suite import API, dumps, entity  # noqa: E402

HEADERS = {"Content-Type": "application/json"}


def _timed_groups(jobs: list[int]) -> Callable[[], None]:
    """Time every group commit of the SQLite writer (its thread's CPU) into ``jobs``; returns
    the undo."""
    from cityhub.store.sqlite import store as sqlite_store

    real = sqlite_store._run_group

    def timed(conn: Any, group: Any) -> None:
        started = time.thread_time_ns()
        try:
            real(conn, group)
        finally:
            jobs.append(time.thread_time_ns() - started)

    sqlite_store._run_group = timed  # type: ignore[assignment]

    def undo() -> None:
        sqlite_store._run_group = real  # type: ignore[assignment]

    return undo


def _io() -> dict[str, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {k: int(v) for k, v in fields.items()}


def _quartiles(jobs: list[int], per: int) -> tuple[float, float]:
    ordered = sorted(jobs)
    return ordered[len(ordered) // 4] / per / 1000, ordered[len(ordered) // 2] / per / 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--entities", type=int, default=3000, help="bench entities preloaded")
    ap.add_argument("--batches", type=int, default=40, help="batch upserts of 100 measured")
    ap.add_argument("--patches", type=int, default=400, help="partial attribute updates")
    ap.add_argument("--creates", type=int, default=300)
    ap.add_argument("--keep", default=None, help="build the database at this path, keep it")
    ap.add_argument("--reuse", default=None, help="a database --keep built: no preload")
    ap.add_argument("--smoke", action="store_true", help="tiny: for the test suite")
    args = ap.parse_args(argv)
    if args.smoke:
        args.entities, args.batches, args.patches, args.creates = 300, 2, 20, 10

    from starlette.testclient import TestClient

    import cityhub
    from cityhub.app import create_app
    from cityhub.settings import Settings

    tmp = tempfile.TemporaryDirectory(prefix="write-cpu-")
    path = args.reuse or args.keep or str(Path(tmp.name) / "hub.db")
    jobs: list[int] = []
    undo = _timed_groups(jobs)
    out: dict[str, Any] = {"cityhub": str(Path(cityhub.__file__).parent.parent)}
    try:
        with TestClient(create_app(Settings(store=f"sqlite:///{path}"))) as client:
            rnd = random.Random(7)
            for start in range(0, 0 if args.reuse else args.entities, 500):
                docs = [entity(i, rnd) for i in range(start, min(args.entities, start + 500))]
                r = client.post(
                    f"{API}/entityOperations/upsert", content=dumps(docs), headers=HEADERS
                )
                assert r.status_code in (201, 204), r.text
            rnd = random.Random(11)
            size = min(100, args.entities)
            bodies = []
            for _ in range(args.batches):
                first = rnd.randrange(max(1, args.entities - size))
                bodies.append(dumps([entity(i, rnd) for i in range(first, first + size)]))
            jobs.clear()
            cpu = time.process_time()
            for body in bodies:
                r = client.post(f"{API}/entityOperations/upsert", content=body, headers=HEADERS)
                assert r.status_code in (201, 204), r.text
            cpu = time.process_time() - cpu
            p25, med = _quartiles(jobs, size)
            out["upsert"] = {
                "writer_us_per_entity_p25": p25,
                "writer_us_per_entity_median": med,
                "process_us_per_entity": cpu / (size * args.batches) * 1e6,
            }
            for name, count, make in (
                ("partial attr update", args.patches, _patch(rnd, args.entities)),
                ("create", args.creates, _create()),
            ):
                jobs.clear()
                before, cpu = _io(), time.process_time()
                for k in range(count):
                    method, url, body, status = make(k)
                    r = client.request(method, url, content=body, headers=HEADERS)
                    assert r.status_code == status, r.text
                cpu = time.process_time() - cpu
                after = _io()
                p25, med = _quartiles(jobs, 1)
                out[name] = {
                    "writer_us_p25": p25,
                    "writer_us_median": med,
                    "process_us": cpu / count * 1e6,
                    "read_bytes_per_request": (after["rchar"] - before["rchar"]) / count,
                    "written_bytes_per_request": (after["wchar"] - before["wchar"]) / count,
                }
    finally:
        undo()
        tmp.cleanup()
    print(json.dumps(out, indent=1))
    return 0


def _patch(rnd: random.Random, entities: int) -> Callable[[int], tuple[str, str, bytes, int]]:
    def make(_: int) -> tuple[str, str, bytes, int]:
        eid = f"urn:ngsi-ld:BenchEntity:{rnd.randrange(entities)}"
        body = {"type": "Property", "value": round(rnd.uniform(0, 100), 2)}
        body["observedAt"] = "2026-11-22T10:00:00Z"
        return "PATCH", f"{API}/entities/{eid}/attrs/dissolvedOxygen", dumps(body).encode(), 204

    return make


def _create() -> Callable[[int], tuple[str, str, bytes, int]]:
    template = entity(0, random.Random(5), "BenchNew")
    run = f"{os.getpid()}-{time.monotonic_ns()}"

    def make(k: int) -> tuple[str, str, bytes, int]:
        body = dict(template, id=f"urn:ngsi-ld:BenchNew:{run}-{k}")
        return "POST", f"{API}/entities", dumps(body).encode(), 201

    return make


if __name__ == "__main__":
    raise SystemExit(main())
