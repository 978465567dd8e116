"""Print cityhub's throughput as a ratio of the bare-HTTP floor measured in the same run.

usage: ratios.py floor.json cityhub.json [previous-cityhub.json]
"""

from __future__ import annotations

import json
import sys
from statistics import median


def _rps(path: str) -> dict[tuple[str, int], float | None]:
    with open(path) as fh:
        doc = json.load(fh)
    groups: dict[tuple[str, int], list[float]] = {}
    for r in doc["results"]:
        key = (r["scenario"], r["concurrency"])
        groups.setdefault(key, [])
        if r["rps"] is not None:
            groups[key].append(r["rps"])
    return {k: (median(v) if v else None) for k, v in groups.items()}


def main(argv: list[str]) -> int:
    floor, hub = _rps(argv[1]), _rps(argv[2])
    prev = _rps(argv[3]) if len(argv) > 3 else {}
    floor_get = {c: v for (s, c), v in floor.items() if s == "raw-get"}
    floor_post = {c: v for (s, c), v in floor.items() if s == "raw-post"}
    print(
        "| scenario | conc | cityhub / floor | cityhub / retrieve |"
        + (" vs previous |" if prev else "")
    )
    print("|---|---|---|---|" + ("---|" if prev else ""))
    for (scenario, conc), rps in sorted(hub.items()):
        base = floor_get if scenario in ("retrieve", "query", "geo", "temporal") else floor_post
        f = base.get(conc)
        ret = hub.get(("retrieve", conc))
        cells = [
            f"{rps / f:.3f}" if rps and f else "n/a",
            f"{rps / ret:.2f}" if rps and ret else "n/a",
        ]
        if prev:
            p = prev.get((scenario, conc))
            cells.append(f"{rps / p:.2f}x" if rps and p else "n/a")
        print(f"| {scenario} | {conc} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
