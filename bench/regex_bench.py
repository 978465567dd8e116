"""Hostile regular expressions against plain retrieves (issue 22 item 1), in one run with wrk.

    python3 bench/regex_bench.py                         # 10,000 entities, SQLite, 3 rounds
    python3 bench/regex_bench.py --entities 10000 --duration 10 --rounds 3 --out /tmp/rx.json
    python3 bench/regex_bench.py --store postgresql://user@host:port/db   # a PostgreSQL (PostGIS)
    python3 bench/regex_bench.py --smoke                 # a few seconds: what CI runs

It starts ``cityhub serve`` on a fresh store (a temporary SQLite file, or a fresh schema of the
PostgreSQL ``--store`` names, dropped afterwards), preloads N entities whose ids and ``name``
values almost match the classic backtracking killers (``name`` is 40 ``a`` and a ``!``), and
runs, in interleaved rounds, ``GET /entities/{id}`` with wrk (``--connections``) in three
phases of ``--duration`` seconds:

- **alone**: nothing else runs;
- **+ scans**: a second wrk (``--load-connections``) sends queries over every entity of the type
  that use no regular expression (``q=name!="…"``, ``count=true``): the cost of any full scan;
- **+ hostile regex**: the second wrk sends the issue's patterns instead (``idPattern=^(.+)+X$``,
  ``q=name~="^(a+)+$"``, ``(x+x+)+y``, ``^(a|aa)+$``, ``!~=``, the entityOperations/query body),
  each over every entity of the type, with ``count=true``.

It prints the retrieve p50/p95/p99 of each phase (median over the rounds), p95 ratios of the
loaded phases to "alone" and of "+ hostile regex" to "+ scans" (what the regular expressions
add beyond scanning), and the load's own rps, p95 and errors. Before issue 22 item 1 the hostile
phase never finished: the first such query held the event loop (and SIGTERM) for good. Needs wrk.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from suite import Scenario, free_port, request, run_wrk, wait_up  # noqa: E402  (bench/ is scripts)

API = "/ngsi-ld/v1"
TYPE = "RegexBench"
NAME = "a" * 40 + "!"


def _id(i: int) -> str:
    return f"urn:ngsi-ld:{TYPE}:seongnam:41135:{i:06d}-" + "x" * 24


def preload(base: str, n: int, batch: int = 1000) -> float:
    started = time.perf_counter()
    for start in range(0, n, batch):
        docs = [
            {
                "id": _id(i),
                "type": TYPE,
                "name": {"type": "Property", "value": NAME},
                "level": {"type": "Property", "value": i % 100},
            }
            for i in range(start, min(n, start + batch))
        ]
        status, body = request(base, "POST", f"{API}/entityOperations/upsert", docs)
        if status not in (201, 204):
            raise SystemExit(f"preload failed: {status} {body[:300]!r}")
    return time.perf_counter() - started


def _get(params: dict[str, str]) -> tuple[str, str, str]:
    return ("GET", f"{API}/entities?" + urllib.parse.urlencode(params), "")


def scenarios(n: int) -> dict[str, Scenario]:
    every = {"type": TYPE, "count": "true", "limit": "10"}
    retrieve = Scenario(
        "retrieve", "get", [("GET", f"{API}/entities/{_id(i)}", "") for i in range(0, n, 7)]
    )
    scans = Scenario(
        "scans",
        "get",
        [
            _get({**every, "q": 'name!="zzz"'}),
            _get({**every, "q": 'name=="zzz"|level<0'}),
            _get({**every, "q": 'name!="b";level>=0'}),
        ],
    )
    query_body = {"type": "Query", "entities": [{"type": TYPE, "idPattern": "^(.+)+X$"}]}
    hostile = Scenario(
        "hostile regex",
        "get",
        [
            _get({**every, "idPattern": "^(.+)+X$"}),
            _get({**every, "q": 'name~="^(a+)+$"'}),
            _get({**every, "q": "name!~=^(a|a)*$"}),
            _get({**every, "idPattern": "(x+x+)+y"}),
            _get({**every, "q": 'name~="^(a|aa)+$"'}),
            (
                "POST",
                f"{API}/entityOperations/query?count=true&limit=10",
                json.dumps(query_body),
            ),
        ],
    )
    return {"retrieve": retrieve, "scans": scans, "hostile": hostile}


def _phase(
    base: str, cases: dict[str, Scenario], load: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    """Retrieve under wrk, with (``load``) a second wrk sending that scenario alongside."""
    if load is None:
        return {"retrieve": run_wrk(base, cases["retrieve"], args.duration, args.connections, 1)}
    with ThreadPoolExecutor(2) as pool:
        loaded = pool.submit(run_wrk, base, cases[load], args.duration, args.load_connections, 1)
        retrieve = pool.submit(run_wrk, base, cases["retrieve"], args.duration, args.connections, 1)
        return {"retrieve": retrieve.result(), "load": loaded.result()}


@contextlib.contextmanager
def hub(store: str | None) -> Iterator[tuple[str, int]]:
    """``cityhub serve`` on a fresh store; yields (base URL, pid); stopped afterwards."""
    with tempfile.TemporaryDirectory() as tmp, _store(store, tmp) as url:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--store", url, "--port", str(port)],
            cwd=tmp,
            env=dict(os.environ),
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_up(base + "/health", proc)
            yield base, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=60)


@contextlib.contextmanager
def _store(store: str | None, tmp: str) -> Iterator[str]:
    if store is None:
        yield f"sqlite:///{tmp}/regex-bench.db"
        return
    sys.path.insert(0, str(HERE.parent))
    from tests.postgres import server  # a fresh schema, as the tests make them

    with server.throwaway_schema(store, f"regex_bench_{os.getpid()}") as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--duration", type=int, default=10, help="seconds per phase")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the phases")
    ap.add_argument("--connections", type=int, default=10, help="retrieve's wrk connections")
    ap.add_argument("--load-connections", type=int, default=4, help="the load's wrk connections")
    ap.add_argument("--store", default=None, help="a PostgreSQL URL (default: a SQLite file)")
    ap.add_argument("--out", default=None, help="write the raw results as JSON here")
    ap.add_argument("--smoke", action="store_true", help="300 entities, 1 s, 1 round: for CI")
    args = ap.parse_args(argv)
    if args.smoke:
        args.entities, args.duration, args.rounds = 300, 1, 1
    run: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "smoke")},
        "backend": "postgresql" if args.store else "sqlite",
        "rounds": [],
    }
    with hub(args.store) as (base, _pid):
        took = preload(base, args.entities)
        print(f"preloaded {args.entities} entities in {took:.1f} s ({run['backend']})")
        cases = scenarios(args.entities)
        for method, path, body in cases["hostile"].requests + cases["scans"].requests:
            status, answer = request(base, method, path, body.encode() if body else None)
            if status != 200:
                raise SystemExit(f"{method} {path}: {status} {answer[:300]!r}")
        for round_ in range(args.rounds):
            phases = {
                "alone": _phase(base, cases, None, args),
                "+ scans": _phase(base, cases, "scans", args),
                "+ hostile regex": _phase(base, cases, "hostile", args),
            }
            run["rounds"].append(phases)
            for name, result in phases.items():
                r = result["retrieve"]
                line = (
                    f"round {round_ + 1} {name:16} retrieve {r['rps']:8.1f} rps  "
                    f"p95 {r['p95_ms']:7.2f} ms  errors {r['errors']}"
                )
                if "load" in result:
                    load = result["load"]
                    line += (
                        f"   load {load['rps']:6.1f} rps  p95 {load['p95_ms']:8.1f} ms"
                        f"  errors {load['errors']}"
                    )
                print(line, flush=True)
    print(summary(run))
    if args.out:
        Path(args.out).write_text(json.dumps(run, indent=2))
    return 0


def summary(run: dict[str, Any]) -> str:
    def median(phase: str, who: str, key: str) -> float:
        return statistics.median(r[phase][who][key] for r in run["rounds"])

    lines = [
        "",
        f"{run['backend']}, {run['settings']['entities']} entities, "
        f"{len(run['rounds'])} rounds of {run['settings']['duration']} s; "
        f"retrieve at {run['settings']['connections']} connections, "
        f"load at {run['settings']['load_connections']} (medians over the rounds)",
        "| phase | retrieve rps | p50 ms | p95 ms | p99 ms | load rps | load p95 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase in ("alone", "+ scans", "+ hostile regex"):
        loaded = phase != "alone"
        errors = sum(
            r[phase][who]["errors"] for r in run["rounds"] for who in r[phase] if r[phase][who]
        )
        lines.append(
            f"| {phase} | {median(phase, 'retrieve', 'rps'):.0f} "
            f"| {median(phase, 'retrieve', 'p50_ms'):.2f} "
            f"| {median(phase, 'retrieve', 'p95_ms'):.2f} "
            f"| {median(phase, 'retrieve', 'p99_ms'):.2f} "
            + (
                f"| {median(phase, 'load', 'rps'):.1f} | {median(phase, 'load', 'p95_ms'):.0f} "
                if loaded
                else "| - | - "
            )
            + f"| {errors} |"
        )
    alone = median("alone", "retrieve", "p95_ms")
    scans = median("+ scans", "retrieve", "p95_ms")
    hostile = median("+ hostile regex", "retrieve", "p95_ms")
    lines.append(
        f"retrieve p95: + scans / alone = {scans / alone:.2f}, + hostile regex / alone = "
        f"{hostile / alone:.2f}, + hostile regex / + scans = {hostile / scans:.2f}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
