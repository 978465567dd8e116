"""History benchmarks (issue #5), each figure a ratio measured in the same run.

1. The cost of history on the write path: two hubs on fresh SQLite files, one recording
   history (``history = true``) and one not (``CITYHUB_HISTORY=false``), the same pool of
   Stellio-template entities in each, and the same partial attribute updates
   (``PATCH /entities/{id}/attrs/dissolvedOxygen`` with ``observedAt``) driven by wrk,
   alternating on/off for ``--rounds`` rounds. Reported: updates/s of each (median) and the
   overhead ``1 - on/off``.
2. Stellio's temporal scenario (github.com/stellio-hub/ngsild-load-tests,
   ``retrieve-temporal-evolution-of-an-entity.js`` with ``RETRIEVE_TEMPORAL_EVOLUTION_WITH_
   AGGREGATE``): ``--temporal-entities`` entities with ``--instances`` attribute instances each
   (the template's five observed instances per time step: ammonium and waterTemperature on two
   datasetIds, dissolvedOxygen; one step per second), then
   ``GET /temporal/entities/{id}?timerel=after&timeAt=2023-01-01T00:00:00Z&options=
   aggregatedValues&aggrPeriodDuration=PT1S&aggrMethods=<one of the eight, at random>``,
   reported as a ratio to retrieve-by-id (``GET /entities/{id}``) on the same hub. A day-long
   period (``P1D``, every instance of the entity in a handful of periods) is measured too.

usage: python3 bench/temporal_bench.py [--temporal-entities 10] [--instances 100000]
           [--pool 1000] [--duration 10] [--rounds 2] [--connections 10] [--port 8401]
           [--out result.json]

Needs wrk (``apt-get install wrk``). Responses of the aggregated query are 206 Partial Content
when they hold more periods than ``temporal_instance_limit`` (1000): that is the spec's paging.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import API, Scenario, dumps, entity, request, run_wrk, wait_up  # noqa: E402

METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
T0 = datetime(2023, 1, 2, tzinfo=UTC)
STEPS_PER_REQUEST = 1000  # 5,000 instances per POST


def start_hub(
    workdir: Path, name: str, port: int, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityhub", "serve", "--db", str(workdir / f"{name}.db")]
        + ["--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **{f"CITYHUB_{k.upper()}": v for k, v in env.items()}},
        cwd=workdir,
    )
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/health", proc)
    return proc, base


def preload_pool(base: str, size: int) -> None:
    rnd = random.Random(3)
    for start in range(0, size, 500):
        batch = [entity(i, rnd) for i in range(start, min(size, start + 500))]
        status, body = request(base, "POST", f"{API}/entityOperations/upsert", batch)
        if status not in (201, 204):
            raise SystemExit(f"preload: {status} {body[:300]!r}")


def update_scenario(pool: int) -> Scenario:
    rnd = random.Random(5)
    reqs = []
    for n in range(4000):
        when = (T0 + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"type": "Property", "value": round(rnd.uniform(0, 100), 2), "observedAt": when}
        path = f"{API}/entities/urn:ngsi-ld:BenchEntity:{rnd.randrange(pool)}/attrs/dissolvedOxygen"
        reqs.append(("PATCH", path, dumps(body)))
    return Scenario("update", "post", reqs)


def _step(i: int, k: int, rnd: random.Random) -> dict[str, list[dict[str, Any]]]:
    when = (T0 + timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def p(dataset: str | None = None) -> dict[str, Any]:
        inst: dict[str, Any] = {"type": "Property", "value": round(rnd.uniform(0, 100), 3)}
        inst["observedAt"] = when
        if dataset:
            inst["datasetId"] = f"urn:ngsi-ld:Dataset:{dataset}"
        return inst

    return {
        "ammonium": [p("Bottom"), p("Surface")],
        "waterTemperature": [p("Bottom"), p("Surface")],
        "dissolvedOxygen": [p()],
    }


def preload_history(base: str, entities: int, instances: int) -> float:
    """Each entity gets ``instances`` attribute instances through the temporal API."""
    rnd = random.Random(9)
    steps = instances // 5
    started = time.perf_counter()
    for i in range(entities):
        eid = f"urn:ngsi-ld:BenchTemporal:{i}"
        for first in range(0, steps, STEPS_PER_REQUEST):
            doc: dict[str, Any] = {"id": eid, "type": "BenchTemporal"}
            for k in range(first, min(steps, first + STEPS_PER_REQUEST)):
                for name, items in _step(i, k, rnd).items():
                    doc.setdefault(name, []).extend(items)
            status, body = request(base, "POST", f"{API}/temporal/entities", doc)
            if status not in (201, 204):
                raise SystemExit(f"history preload: {status} {body[:300]!r}")
    return time.perf_counter() - started


def read_scenarios(entities: int) -> list[Scenario]:
    rnd = random.Random(13)
    ids = [f"urn:ngsi-ld:BenchTemporal:{i}" for i in range(entities)]
    retrieve = Scenario(
        "retrieve-by-id", "get", [("GET", f"{API}/entities/{rnd.choice(ids)}", "") for _ in ids]
    )
    out = [retrieve]
    for period in ("PT1S", "P1D"):
        reqs = []
        for _ in range(400):
            query = (
                "timerel=after&timeAt=2023-01-01T00:00:00Z&options=aggregatedValues"
                f"&aggrPeriodDuration={period}&aggrMethods={rnd.choice(METHODS)}"
            )
            reqs.append(("GET", f"{API}/temporal/entities/{rnd.choice(ids)}?{query}", ""))
        out.append(Scenario(f"aggregated {period}", "get", reqs))
    return out


def _line(name: str, result: dict[str, Any]) -> str:
    return (
        f"{name:22} {result['rps']:9.1f} rps  p50 {result['p50_ms']:8.1f} ms  "
        f"p99 {result['p99_ms']:8.1f} ms  errors {result['errors']}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--temporal-entities", type=int, default=10)
    ap.add_argument("--instances", type=int, default=100_000, help="per temporal entity")
    ap.add_argument("--pool", type=int, default=1000, help="entities the updates go to")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=2, help="on/off alternations (write path)")
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--skip", default="", help="comma list: write,read")
    ap.add_argument("--port", type=int, default=8401, help="first of the three ports used")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    figures: dict[str, Any] = {"args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="cityhub-temporal-bench-") as tmp:
        work = Path(tmp)
        hubs: list[subprocess.Popen[bytes]] = []
        try:
            if "write" not in skip:
                on_proc, on = start_hub(work, "history-on", args.port, history="true")
                off_proc, off = start_hub(work, "history-off", args.port + 1, history="false")
                hubs += [on_proc, off_proc]
                for base in (on, off):
                    preload_pool(base, args.pool)
                updates = update_scenario(args.pool)
                rps: dict[str, list[float]] = {"on": [], "off": []}
                for n in range(args.rounds):
                    for label, base in (("on", on), ("off", off)):
                        result = run_wrk(
                            base, updates, args.duration, args.connections, args.threads
                        )
                        if result["errors"]:
                            raise SystemExit(f"updates with history {label}: {result}")
                        rps[label].append(result["rps"])
                        print(_line(f"update, history {label} #{n + 1}", result), flush=True)
                on_rps, off_rps = statistics.median(rps["on"]), statistics.median(rps["off"])
                overhead = 1 - on_rps / off_rps
                figures["write"] = {"on": rps["on"], "off": rps["off"], "overhead": overhead}
                print(
                    f"history on / off = {on_rps / off_rps:.3f} "
                    f"(overhead {overhead:.1%}, goal < 25%)",
                    flush=True,
                )
            if "read" not in skip:
                proc, base = start_hub(work, "temporal", args.port + 2)
                hubs.append(proc)
                took = preload_history(base, args.temporal_entities, args.instances)
                total = args.temporal_entities * (args.instances // 5) * 5
                print(f"loaded {total} instances in {took:.0f} s ({total / took:.0f}/s)")
                results = {}
                for scenario in read_scenarios(args.temporal_entities):
                    result = run_wrk(base, scenario, args.duration, args.connections, args.threads)
                    if result["errors"]:
                        raise SystemExit(f"{scenario.name}: {result}")
                    results[scenario.name] = result
                    print(_line(scenario.name, result), flush=True)
                base_rps = results["retrieve-by-id"]["rps"]
                for name, result in results.items():
                    print(f"{name} / retrieve-by-id = {result['rps'] / base_rps:.3f}")
                figures["read"] = results
        finally:
            for proc in hubs:
                proc.terminate()
                proc.wait(timeout=30)
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
