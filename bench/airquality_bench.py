"""Air-quality service benchmark (issue 16, "Speed and reliability"). Ratios in one run.

Part 1, throughput: a real ``cityhub serve`` on a fresh SQLite file, ``--stations``
AirQualityObserved entities (PM10, PM2.5, NO2, O3, CO, SO2), then ``--rounds`` batch upserts of
every station with the next hour's readings, as fast as one client sends them; once with the
air-quality service off and once on. Prints entities upserted per second each way and the
ratio (target: on is at most 20% slower). With the service on it also waits until the service
has caught up and reports how long after the last upsert that was.

Part 2, delay: a fresh hub with the service on, the stations reporting one at a time at
``--rate`` observations per second (the demo publishes 1-2 messages a second) for
``--seconds``; the p95 of the service's own delay from an observation's commit (its work item
is written in that transaction) to the CAI written back, as ``/health`` reports it (target: under
one second).

    python3 bench/airquality_bench.py [--stations 100] [--rounds 24] [--rate 20] [--seconds 20]
    python3 bench/airquality_bench.py --smoke --out /tmp/aq.json     # what the smoke test runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 1, tzinfo=UTC)
UNITS = {"pm10": "GQ", "pm25": "GQ", "no2": "59", "o3": "59", "co": "59", "so2": "59"}


class Hub:
    """``cityhub serve`` on a fresh SQLite file, in a child process."""

    def __init__(self, db: Path, port: int, service: bool) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "CITYHUB_LOG_LEVEL": "warning",
            "CITYHUB_AIRQUALITY_SERVICE": "true" if service else "false",
        }
        cmd = [sys.executable, "-m", "cityhub", "serve", "--db", str(db), "--port", str(port)]
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cityhub serve did not start on port {port}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the hub process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def services(self) -> dict[str, Any]:
        body = httpx.get(f"{self.url}/health", timeout=10).json()
        return dict(body.get("services", {}).get("airquality", {}))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def station(n: int, hour: int, rng: random.Random) -> dict[str, Any]:
    at = (
        (START + timedelta(hours=hour, minutes=rng.randrange(60)))
        .isoformat()
        .replace("+00:00", "Z")
    )
    values = {
        "pm10": rng.uniform(10, 120),
        "pm25": rng.uniform(5, 80),
        "no2": rng.uniform(0.005, 0.08),
        "o3": rng.uniform(0.005, 0.1),
        "co": rng.uniform(0.1, 1.5),
        "so2": rng.uniform(0.001, 0.01),
    }
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:bench:{n}",
        "type": "AirQualityObserved",
        **{
            name: {
                "type": "Property",
                "value": round(v, 3),
                "unitCode": UNITS[name],
                "observedAt": at,
            }
            for name, v in values.items()
        },
    }


def upsert(client: httpx.Client, batch: list[dict[str, Any]]) -> None:
    r = client.post("/ngsi-ld/v1/entityOperations/upsert", json=batch)
    if r.status_code not in (201, 204):
        raise RuntimeError(f"upsert answered {r.status_code}: {r.text[:300]}")


def throughput(tmp: Path, port: int, service: bool, stations: int, rounds: int) -> dict[str, Any]:
    tmp.mkdir(exist_ok=True)
    hub = Hub(tmp / f"throughput-{service}.db", port, service)
    rng = random.Random(7)
    try:
        with httpx.Client(base_url=hub.url, timeout=120) as client:
            upsert(client, [station(n, 0, rng) for n in range(stations)])
            while service and hub.services().get("pending"):
                time.sleep(0.05)
            cpu = hub.cpu_seconds()
            start = time.perf_counter()
            for hour in range(1, rounds + 1):
                upsert(client, [station(n, hour, rng) for n in range(stations)])
            elapsed = time.perf_counter() - start
            result: dict[str, Any] = {
                "entities_per_s": stations * rounds / elapsed,
                "seconds": elapsed,
                # the hub's CPU per upserted entity, its services' catching up included
                "cpu_ms_per_entity": (hub.cpu_seconds() - cpu) * 1000 / (stations * rounds),
            }
            if service:  # how long the service needs to catch up after the last upsert
                caught = time.perf_counter()
                deadline = caught + 300
                while True:
                    stats = hub.services()
                    if stats.get("pending") == 0 or time.perf_counter() > deadline:
                        break
                    time.sleep(0.05)
                result["catch_up_s"] = time.perf_counter() - caught
                result["cpu_ms_per_entity"] = (hub.cpu_seconds() - cpu) * 1000 / (stations * rounds)
                r = client.get(
                    "/ngsi-ld/v1/entities",
                    params={"type": "AirQualityObserved", "limit": "1000"},
                )
                result["stations_computed"] = sum(
                    1
                    for e in r.json()
                    if e.get("airQualityIndexStatus", {}).get("observedAt", "")[:13]
                    == _hour(rounds)[:13]
                )
                result["service"] = hub.services()
            return result
    finally:
        hub.stop()


def _hour(hour: int) -> str:
    return (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def delay(tmp: Path, port: int, stations: int, rate: float, seconds: float) -> dict[str, Any]:
    db = tmp / "delay.db"
    rng = random.Random(11)
    hub = Hub(db, port, True)
    try:  # a backfilled half day, so that the PM averages have their hours
        with httpx.Client(base_url=hub.url, timeout=120) as client:
            for hour in range(12):
                upsert(client, [station(n, hour, rng) for n in range(stations)])
            while hub.services().get("pending"):
                time.sleep(0.05)
    finally:
        hub.stop()
    hub = Hub(db, port, True)  # a fresh process: its stats count the paced phase only
    try:
        with httpx.Client(base_url=hub.url, timeout=120) as client:
            sent, start = 0, time.perf_counter()
            hour = 12
            while time.perf_counter() - start < seconds:
                n = sent % stations
                if n == 0 and sent:
                    hour += 1
                body = station(n, hour, rng)
                eid = body.pop("id")
                body.pop("type")
                r = client.patch(f"/ngsi-ld/v1/entities/{eid}/attrs", json=body)
                if r.status_code != 204:
                    raise RuntimeError(f"update answered {r.status_code}: {r.text[:300]}")
                sent += 1
                pause = start + sent / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            deadline = time.perf_counter() + 60
            while (stats := hub.services()).get("pending") and time.perf_counter() < deadline:
                time.sleep(0.05)  # the last observations' computations
            return {"observations": sent, "computed": stats.get("done", 0), **stats}
    finally:
        hub.stop()


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate."""
    return sorted(runs, key=lambda r: float(r["entities_per_s"]))[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=18400)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if args.smoke:
        args.stations, args.rounds, args.rate, args.seconds, args.repeat = 5, 3, 20.0, 1.0, 1
    with tempfile.TemporaryDirectory(prefix="cityhub-aq-bench-") as name:
        tmp = Path(name)
        offs, ons = [], []
        for n in range(args.repeat):  # interleaved: both see the same neighbours' load
            offs.append(throughput(tmp / f"{n}", args.port, False, args.stations, args.rounds))
            ons.append(throughput(tmp / f"{n}", args.port + 1, True, args.stations, args.rounds))
        paced = delay(tmp, args.port + 2, args.stations, args.rate, args.seconds)
    off, on = _median(offs), _median(ons)
    ratio = on["entities_per_s"] / off["entities_per_s"]
    # (the smoke run is too short for the kernel's 10 ms CPU ticks to see the service off)
    cpu_ratio = on["cpu_ms_per_entity"] / max(off["cpu_ms_per_entity"], 1e-9)
    load = os.getloadavg()
    print(
        f"batch upsert of {args.stations} stations x {args.rounds} hours, median of "
        f"{args.repeat} (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(
        f"  service off: {off['entities_per_s']:8.1f} entities/s, "
        f"{off['cpu_ms_per_entity']:.3f} ms hub CPU per entity"
    )
    print(
        f"  service on:  {on['entities_per_s']:8.1f} entities/s ({ratio:.2f} of off), "
        f"{on['cpu_ms_per_entity']:.3f} ms hub CPU per entity ({cpu_ratio:.2f} x off, "
        "its computations included)"
    )
    print(
        f"  caught up {on['catch_up_s']:.2f} s after the last upsert "
        f"({on['stations_computed']}/{args.stations} stations at the last hour)"
    )
    print(
        f"delay at {args.rate:g} observations/s for {args.seconds:g} s: "
        f"{paced['computed']} computed of {paced['observations']}, "
        f"commit -> CAI p95 {paced['delayP95Seconds']} s"
    )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "off": offs,
                    "on": ons,
                    "ratio": ratio,
                    "cpu_ratio": cpu_ratio,
                    "delay": paced,
                    "loadavg": load,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
