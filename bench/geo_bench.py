"""Geo-query benchmark (issue #3): ``near`` (maxDistance 2 km) and ``within`` a Seongnam dong
polygon over N entities, against retrieve-by-id, in one run with wrk. Prints ratios.

usage: python3 bench/geo_bench.py [--entities 100000] [--rounds 3] [--duration 10]
       [--connections 10] [--limit 20] [--base-url URL [--skip-preload]] [--districts FILE]

Without ``--base-url`` it starts ``cityhub serve`` on a fresh database in a temporary
directory, preloads the points, runs the rounds and stops it: one command. With
``--base-url`` it uses a hub you started (``--skip-preload`` when it already holds the points,
e.g. ``cityhub serve --db /tmp/geo-bench.db`` kept between runs). Points are spread uniformly
over Seongnam's bounding box, so a dong holds about 2% of them; the dongs are the boundaries
shipped in ``cityhub/data``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from suite import free_port, wait_up  # noqa: E402  (bench/ is scripts, not a package)

BOX = (127.02776, 37.33337, 127.1958, 37.47481)  # Seongnam-si, lon/lat


def _post(base: str, path: str, body: object) -> int:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        return int(resp.status)


def preload(base: str, n: int, batch: int = 1000) -> float:
    rnd = random.Random(7)
    started = time.perf_counter()
    for start in range(0, n, batch):
        entities = []
        for i in range(start, min(n, start + batch)):
            lon = rnd.uniform(BOX[0], BOX[2])
            lat = rnd.uniform(BOX[1], BOX[3])
            entities.append(
                {
                    "id": f"urn:ngsi-ld:Streetlight:geo-bench-{i}",
                    "type": "Streetlight",
                    "powerState": {"type": "Property", "value": "on"},
                    "location": {
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [lon, lat]},
                    },
                }
            )
        _post(base, "/ngsi-ld/v1/entityOperations/upsert", entities)
    return time.perf_counter() - started


def _wrk(base: str, paths: list[str], duration: int, connections: int) -> tuple[float, int]:
    lua = (
        "paths = {"
        + ",".join(json.dumps(p) for p in paths)
        + "}\n"
        + (
            "math.randomseed(42)\n"
            "request = function() return wrk.format('GET', paths[math.random(#paths)]) end\n"
        )
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", fh.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base-url", default=None, help="a running hub (default: start one)")
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument(
        "--districts",
        default=str(resources.files("cityhub.data").joinpath("seongnam-districts.geojson")),
    )
    ap.add_argument("--skip-preload", action="store_true")
    ap.add_argument("--limit", type=int, default=20, help="page size of the geo-queries")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the scenarios")
    args = ap.parse_args()
    with _hub(args.base_url) as base:
        return _run(args, base, preload_points=args.base_url is None or not args.skip_preload)


@contextlib.contextmanager
def _hub(base_url: str | None) -> Iterator[str]:
    """The given hub, or ``cityhub serve`` on a fresh database, stopped afterwards."""
    if base_url is not None:
        yield base_url.rstrip("/")
        return
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cityhub",
                "serve",
                "--db",
                f"{tmp}/geo.db",
                "--port",
                str(port),
            ],
            env=dict(os.environ),
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_up(base + "/health", proc)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def _run(args: argparse.Namespace, base: str, *, preload_points: bool) -> int:
    if preload_points:
        took = preload(base, args.entities)
        print(f"preloaded {args.entities} entities in {took:.1f} s")
    rnd = random.Random(11)
    retrieve = [
        f"/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:geo-bench-{rnd.randrange(args.entities)}"
        for _ in range(2000)
    ]
    near = []
    for _ in range(2000):
        point = [round(rnd.uniform(BOX[0], BOX[2]), 5), round(rnd.uniform(BOX[1], BOX[3]), 5)]
        query = {
            "type": "Streetlight",
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": json.dumps(point, separators=(",", ":")),
            "limit": str(args.limit),
        }
        near.append("/ngsi-ld/v1/entities?" + urllib.parse.urlencode(query))
    dongs = [
        f
        for f in json.loads(Path(args.districts).read_text())["features"]
        if f["properties"].get("level") == "dong"
    ]
    within = []
    for f in dongs:
        query = {
            "type": "Streetlight",
            "georel": "within",
            "geometry": f["geometry"]["type"],
            "coordinates": json.dumps(f["geometry"]["coordinates"], separators=(",", ":")),
            "limit": str(args.limit),
        }
        within.append("/ngsi-ld/v1/entities?" + urllib.parse.urlencode(query))
    # interleaved rounds: a load that drifts during the run (a shared machine) hits every
    # scenario alike; the ratio is of the mean rps over the rounds
    results: dict[str, list[float]] = {"retrieve": [], "near 2 km": [], "within dong": []}
    for round_ in range(args.rounds):
        for name, paths in (("retrieve", retrieve), ("near 2 km", near), ("within dong", within)):
            rps, bad = _wrk(base, paths, args.duration, args.connections)
            results[name].append(rps)
            print(f"round {round_ + 1} {name:12} {rps:9.1f} rps  non-2xx: {bad}")
    mean = {name: sum(v) / len(v) for name, v in results.items()}
    for name in ("near 2 km", "within dong"):
        print(f"{name} / retrieve = {mean[name] / mean['retrieve']:.2f} (goal >= 0.33)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
