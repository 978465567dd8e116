"""CPU per request of each thread of a running hub, for the suite's scenarios, alternating trees
(issue 21). On a shared machine the suite's rates move with the load by more than most changes
do; the CPU a hub's threads spend per request moves much less, and comparing two trees in
alternated runs on hubs that run side by side is what this does.

For each tree it starts ``cityhub serve`` (that tree's code, a fresh SQLite file, ports from
``--port``), preloads the suite's bench entities and history, then runs each scenario with wrk
(the suite's requests, 10 connections) on the trees in turn, ``--pairs`` times, and reads each
thread's CPU from ``/proc/<pid>/task/*/stat`` before and after: microseconds per request for
the event loop's thread (``loop``), the SQLite writer, and the rest (checkpointer, readers),
named by py-spy when it is installed (else the writer is the busiest other thread).

    python3 bench/thread_cpu.py --trees /tmp/main,/work/wt/mine --pairs 3
    python3 bench/thread_cpu.py --scenarios "partial attr update,create" --duration 8

``--smoke`` is what the test suite runs (one tree, 200 entities, one second a scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import suite  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _names(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name, from ``py-spy dump`` (empty without py-spy)."""
    if shutil.which("py-spy") is None:
        return {}
    out = subprocess.run(
        ["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    names = {}
    for line in out.splitlines():
        m = re.match(r'Thread (\d+) .*"(.*)"', line)
        if m:
            names[int(m.group(1))] = m.group(2)
    return names


def _ticks(pid: int) -> dict[int, int]:
    """Thread id -> CPU clock ticks (user + system) so far."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except FileNotFoundError:  # the thread ended
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = int(fields[11]) + int(fields[12])
    return out


def _label(pid: int, tid: int, names: dict[int, str]) -> str:
    if tid == pid:
        return "loop"
    name = names.get(tid, "")
    if name.startswith("cityhub-sqlite-"):
        name = name[len("cityhub-sqlite-") :]
    return re.sub(r"_\d+$", "", name) or "other"


def measure(
    pid: int, base: str, scenario: suite.Scenario, duration: int, names: dict[int, str]
) -> dict[str, Any]:
    """One wrk run of ``scenario``: its rate and each thread's CPU per request (µs)."""
    before = _ticks(pid)
    result = suite.run_wrk(base, scenario, duration, 10, 2)
    after = _ticks(pid)
    requests = result["requests"] or 1
    per: dict[str, float] = {}
    for tid, ticks in after.items():
        used = ticks - before.get(tid, 0)
        if used:
            label = _label(pid, tid, names)
            per[label] = per.get(label, 0.0) + used / TICK / requests * 1e6
    if "writer" not in per and not names:  # no py-spy: the busiest other thread
        others = {k: v for k, v in per.items() if k != "loop"}
        if others:
            busiest = max(others, key=lambda k: others[k])
            per["writer"] = per.pop(busiest)
    return {
        "rps": round(result["rps"], 1),
        "p95_ms": result["p95_ms"],
        "us_per_request": {k: round(v, 1) for k, v in sorted(per.items())},
        "us_total": round(sum(per.values()), 1),
        "load": round(os.getloadavg()[0], 2),
    }


def start(tree: Path, db: Path, port: int, entities: int, history: tuple[int, int]) -> Any:
    env = dict(os.environ, PYTHONPATH=str(tree), CITYHUB_TEMPORAL_INSTANCE_LIMIT="1000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityhub", "serve", "--db", str(db), "--port", str(port)],
        env=env,
        cwd=str(tree),
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    suite.wait_up(base + f"{suite.API}/types", proc)
    suite.preload(base, entities)
    suite.add_history(base, *history)
    return proc, base


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--trees", default=str(HERE.parent), help="comma-separated source trees")
    ap.add_argument("--entities", type=int, default=10000)
    ap.add_argument("--scenarios", default="partial attr update,create,batch upsert 100,retrieve")
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--pairs", type=int, default=3, help="rounds over the trees")
    ap.add_argument(
        "--port", type=int, default=0, help="first port, one per tree (0: any free ports)"
    )
    ap.add_argument("--smoke", action="store_true", help="tiny: for the test suite")
    args = ap.parse_args(argv)
    history = (20, 1000)
    if args.smoke:
        args.entities, args.duration, args.pairs, history = 200, 1, 1, (2, 10)
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    wanted = [s.strip() for s in args.scenarios.split(",")]
    scenarios = {s.name: s for s in suite.scenarios(args.entities, history[0])}
    unknown = [s for s in wanted if s not in scenarios]
    if unknown:
        raise SystemExit(f"unknown scenarios: {unknown}; known: {sorted(scenarios)}")
    tmp = Path(tempfile.mkdtemp(prefix="thread-cpu-"))
    hubs: list[tuple[Path, Any, str]] = []
    out: dict[str, Any] = {"entities": args.entities, "runs": []}
    try:
        for i, tree in enumerate(trees):
            port = args.port + i if args.port else suite.free_port()
            proc, base = start(tree, tmp / f"hub{i}.db", port, args.entities, history)
            hubs.append((tree, proc, base))
        names = {str(tree): _names(proc.pid) for tree, proc, _ in hubs}
        for r in range(args.pairs):
            for name in wanted:
                for tree, proc, base in hubs:
                    run = measure(proc.pid, base, scenarios[name], args.duration, names[str(tree)])
                    run.update(tree=str(tree), scenario=name, round=r + 1)
                    out["runs"].append(run)
                    print(json.dumps(run), file=sys.stderr)
    finally:
        for _, proc, _ in hubs:
            proc.terminate()
            proc.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
