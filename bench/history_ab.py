"""The history bench's four queries alternated between two hubs at the same moment, for a
before/after ratio on a loaded machine: each hub runs its own source tree on the database a
``bench/history_bench.py`` run left in its workdir, and each request goes to one hub, then the
same request to the other.

    python3 bench/history_ab.py --before /tmp/b-before:/tmp/old --after /tmp/b-after:. \\
        --sensors 100 --months 1 --requests 20
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--before", required=True, help="WORKDIR:CODE of the before hub")
    ap.add_argument("--after", required=True, help="WORKDIR:CODE of the after hub")
    ap.add_argument("--sensors", type=int, default=100)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args(argv)
    procs, clients = {}, {}
    try:
        for name, spec in (("before", args.before), ("after", args.after)):
            work, code = (Path(p) for p in spec.split(":", 1))
            store = (work / "store.txt").read_text() if (work / "store.txt").exists() else None
            port = free_port()
            procs[name] = hb.start_hub(work, port, store, code.resolve())
            clients[name] = hb.Client(port)
        _, by_dong, by_gu = hb.sensors(args.sensors)
        for name, paths in hb.queries(
            args.sensors, args.months, by_dong, by_gu, args.requests
        ).items():
            times: dict[str, list[float]] = {k: [] for k in clients}
            for client in clients.values():
                client.send("GET", paths[0])  # warm
            for path in paths:
                for k, client in clients.items():
                    started = time.perf_counter()
                    status, body = client.send("GET", path)
                    times[k].append((time.perf_counter() - started) * 1000)
                    if status != 200:
                        raise SystemExit(f"{k} {name}: {status} {body[:300]!r}")
            line = [name]
            for k, ts in times.items():
                ts.sort()
                p95 = ts[max(0, round(0.95 * len(ts)) - 1)]
                line.append(f"{k} p50 {statistics.median(ts):.1f} p95 {p95:.1f} ms")
            ratio = statistics.median(times["after"]) / statistics.median(times["before"])
            print(" | ".join([*line, f"after/before p50 x{ratio:.2f}"]), flush=True)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
