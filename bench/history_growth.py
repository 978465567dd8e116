"""Issue #21's growth ratio, p95(year) / p95(month), measured at the same moment: two hubs of
one source tree, one on the database a ``bench/history_bench.py --months 12`` run left in its
workdir and one on a ``--months 1`` run's (same ``--sensors``), each query's year request and
month request alternated one by one, with each hub's CPU time per request (the ratio a loaded
machine moves least).

    python3 bench/history_growth.py --year /tmp/cityhub-history-100x12-temporal \\
        --month /tmp/cityhub-history-100x1-temporal --sensors 100 --requests 40 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import history_bench as hb  # noqa: E402
from suite import free_port  # noqa: E402


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--year", required=True, help="workdir of a --months 12 run")
    ap.add_argument("--month", required=True, help="workdir of a --months 1 run")
    ap.add_argument("--code", default=str(HERE.parent), help="the source tree both hubs run")
    ap.add_argument("--sensors", type=int, default=100)
    ap.add_argument("--requests", type=int, default=40, help="distinct requests per query")
    ap.add_argument("--rounds", type=int, default=5, help="times each request is sent")
    ap.add_argument("--only", action="append", default=[], help="a query's name (repeatable)")
    args = ap.parse_args(argv)
    only = set(args.only)
    procs, clients = {}, {}
    try:
        for name, work in (("year", args.year), ("month", args.month)):
            port = free_port()
            procs[name] = hb.start_hub(Path(work), port, None, Path(args.code).resolve())
            clients[name] = hb.Client(port)
        _, by_dong, by_gu = hb.sensors(args.sensors)
        paths = {
            "year": hb.queries(args.sensors, 12, by_dong, by_gu, args.requests),
            "month": hb.queries(args.sensors, 1, by_dong, by_gu, args.requests),
        }
        for query in paths["year"]:
            if only and query not in only:
                continue
            times: dict[str, list[float]] = {k: [] for k in clients}
            for k, client in clients.items():
                client.send("GET", paths[k][query][0])  # warm
            cpu = {k: hb.cpu_seconds(p.pid) for k, p in procs.items()}
            for _ in range(args.rounds):
                for year_path, month_path in zip(
                    paths["year"][query], paths["month"][query], strict=True
                ):
                    for k, path in (("year", year_path), ("month", month_path)):
                        started = time.perf_counter()
                        status, body = clients[k].send("GET", path)
                        times[k].append((time.perf_counter() - started) * 1000)
                        if status != 200:
                            raise SystemExit(f"{k} {query}: {status} {body[:300]!r}")
            ms = {
                k: (hb.cpu_seconds(p.pid) - cpu[k]) / len(times[k]) * 1000 for k, p in procs.items()
            }
            p50 = {k: statistics.median(t) for k, t in times.items()}
            p95 = {k: _p95(t) for k, t in times.items()}
            print(
                f"{query}: p50 year {p50['year']:.1f} / month {p50['month']:.1f} ms"
                f" = x{p50['year'] / p50['month']:.2f}; p95 {p95['year']:.1f} /"
                f" {p95['month']:.1f} = x{p95['year'] / p95['month']:.2f}; CPU per request"
                f" {ms['year']:.2f} / {ms['month']:.2f} ms = x{ms['year'] / ms['month']:.2f}"
                f" ({len(times['year'])} each)",
                flush=True,
            )
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
