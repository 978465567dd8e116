"""Air-quality service benchmark (issue 16, "Speed and reliability"). Ratios in one run.

Part 1, throughput: a real ``cityhub serve`` on a fresh SQLite file, ``--stations``
AirQualityObserved entities (PM10, PM2.5, NO2, O3, CO, SO2), then ``--rounds`` batch upserts of
every station with the next hour's readings, as fast as one client sends them; once with the
city services off (air quality, alerts, indicators: the issue's "all services on vs off";
``--airquality-only`` toggles that one alone) and once on. Prints entities upserted per second
each way and the ratio (target: on is at most 20% slower), and the hub's CPU per entity
(``--settled``: the services catch up after each round, so that every station-hour is
computed and the CPU figure is their whole work, not what a backlog coalesced). Each round
replaces the stations (the services' derived attributes go, and come back with their
computation); ``--update`` upserts with ``options=update``, as the demo's simulator writes.
With the services on it also waits until they have caught up and reports how long after the
last upsert that was.

Part 2, delay: a fresh hub with the service on, the stations reporting one at a time at
``--rate`` observations per second (the demo publishes 1-2 messages a second) for
``--seconds``; the p95 of the service's own delay from an observation's commit (its work item
is written in that transaction) to the CAI written back, as ``/health`` reports it (target: under
one second).

Part 3, ``--demo N``: the delay with the demo city running (``cityhub demo --speed 60``, or
``--demo-speed``, on a
fresh SQLite store, every service on), seen from outside: a client upserts a full observation
(PM10, PM2.5, NO2, O3) of a probe station for the next hour, and times from the answer (the
commit was before it) until a GET shows the station's CAI for that hour (polled every 5 ms);
N probes, p50/p95/max, beside the services' own p95 from ``/health``. ``--against ROOT`` runs
the same probes, interleaved in rounds of ten, on the code of another checkout (e.g.
``/work/main``): the before/after ratio in one run.

    python3 bench/airquality_bench.py [--stations 100] [--rounds 24] [--rate 20] [--seconds 20]
    python3 bench/airquality_bench.py --demo 100 --skip-throughput [--against /path/to/main]
    python3 bench/airquality_bench.py --smoke --out /tmp/aq.json     # what the smoke test runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
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

    def __init__(
        self, db: Path, port: int, service: bool, root: Path = ROOT, others: bool | None = None
    ) -> None:
        """``service``: the air-quality service on; ``others``: the alert and indicator
        services on (None: as they are by default)."""
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "PYTHONDONTWRITEBYTECODE": "1",
            "CITYHUB_LOG_LEVEL": "warning",
            "CITYHUB_AIRQUALITY_SERVICE": "true" if service else "false",
        }
        if others is not None:
            env["CITYHUB_ALERTS_SERVICE"] = env["CITYHUB_INDICATORS_SERVICE"] = (
                "true" if others else "false"
            )
        cmd = [sys.executable, "-m", "cityhub", "serve", "--db", str(db), "--port", str(port)]
        self.proc = subprocess.Popen(cmd, env=env, cwd=root)
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

    def all_pending(self) -> int:
        """Work items of every city service still in the queue."""
        body = httpx.get(f"{self.url}/health", timeout=10).json()
        return sum(int(s.get("pending") or 0) for s in body.get("services", {}).values())

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


def upsert(client: httpx.Client, batch: list[dict[str, Any]], update: bool = False) -> None:
    """``update``: ``options=update`` (the attributes not in the batch stay, as the demo's
    simulator writes); else each entity is replaced (the services' derived attributes go, and
    come back with their computation)."""
    params = {"options": "update"} if update else None
    r = client.post("/ngsi-ld/v1/entityOperations/upsert", json=batch, params=params)
    if r.status_code not in (201, 204):
        raise RuntimeError(f"upsert answered {r.status_code}: {r.text[:300]}")


def throughput(
    tmp: Path,
    port: int,
    service: bool,
    stations: int,
    rounds: int,
    others: bool = True,
    root: Path = ROOT,
    update: bool = False,
    settled: bool = False,
) -> dict[str, Any]:
    """``others``: the alert and indicator services follow ``service`` (else as by default);
    ``update``: the rounds upsert with ``options=update``; ``settled``: wait for the services
    after each round (every station-hour computed, none coalesced: the CPU per entity is then
    the whole work of a station-hour, the same in every run)."""
    tmp.mkdir(exist_ok=True, parents=True)
    db = tmp / f"throughput-{service}.db"
    hub = Hub(db, port, service, root, others=service if others else None)
    rng = random.Random(7)
    try:
        with httpx.Client(base_url=hub.url, timeout=120) as client:
            upsert(client, [station(n, 0, rng) for n in range(stations)])
            while service and hub.all_pending():
                time.sleep(0.05)
            cpu = hub.cpu_seconds()
            start = time.perf_counter()
            for hour in range(1, rounds + 1):
                upsert(client, [station(n, hour, rng) for n in range(stations)], update)
                while settled and service and hub.all_pending():
                    time.sleep(0.05)
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
                while hub.all_pending() and time.perf_counter() < deadline:
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


def delay(
    tmp: Path, port: int, stations: int, rate: float, seconds: float, root: Path = ROOT
) -> dict[str, Any]:
    tmp.mkdir(exist_ok=True)
    db = tmp / "delay.db"
    rng = random.Random(11)
    hub = Hub(db, port, True, root)
    try:  # a backfilled half day, so that the PM averages have their hours
        with httpx.Client(base_url=hub.url, timeout=120) as client:
            for hour in range(12):
                upsert(client, [station(n, hour, rng) for n in range(stations)])
            while hub.services().get("pending"):
                time.sleep(0.05)
    finally:
        hub.stop()
    hub = Hub(db, port, True, root)  # a fresh process: its stats count the paced phase only
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


PROBE = "urn:ngsi-ld:AirQualityObserved:bench:probe"


class Demo:
    """``cityhub demo --speed 60`` on a fresh SQLite store, with the code of ``root``."""

    def __init__(self, root: Path, db: Path, port: int, speed: float = 60.0) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env["PYTHONPATH"] = str(root)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # another checkout stays as it is
        cmd = [sys.executable, "-m", "cityhub", "demo", "--port", str(port)]
        cmd += ["--db", str(db), "--speed", str(speed), "--backfill-days", "0.25"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=tempfile.gettempdir(),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=5)
            except queue.Empty:
                continue
            if not line:
                raise RuntimeError("cityhub demo ended before it was up")
            if "Ctrl-C" in line:  # the banner's last line: the city is in the hub
                return
        self.stop()
        raise RuntimeError("cityhub demo did not come up in 10 minutes")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _probe_body(hour: int) -> dict[str, Any]:
    at = _hour(hour)
    values = {"pm10": 40.0 + hour % 7, "pm25": 20.0 + hour % 5, "no2": 0.02, "o3": 0.03}
    return {
        "id": PROBE,
        "type": "AirQualityObserved",
        **{
            name: {"type": "Property", "value": v, "unitCode": UNITS[name], "observedAt": at}
            for name, v in values.items()
        },
    }


def demo_probes(client: httpx.Client, first: int, n: int) -> list[float]:
    """Seconds from each probe's answer to its CAI seen (hours ``first`` .. ``first + n``)."""
    out = []
    for hour in range(first, first + n):
        upsert(client, [_probe_body(hour)])
        start = time.perf_counter()
        want = _hour(hour)[:13]
        while True:
            r = client.get(
                f"/ngsi-ld/v1/entities/{PROBE}", params={"attrs": "airQualityIndexStatus"}
            )
            at = r.json().get("airQualityIndexStatus", {}) if r.status_code == 200 else {}
            if str(at.get("observedAt", ""))[:13] == want:
                break
            if time.perf_counter() - start > 60:
                raise RuntimeError(f"no CAI for hour {hour} in 60 s")
            time.sleep(0.005)
        out.append(time.perf_counter() - start)
        time.sleep(0.2)
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def demo_delay(
    tmp: Path, port: int, probes: int, roots: dict[str, Path], speed: float = 60.0
) -> dict[str, Any]:
    """``probes`` CAI probes on a demo of each checkout in ``roots``, in rounds of ten."""
    demos = {
        name: Demo(root, tmp / f"demo-{name}.db", port + n, speed)
        for n, (name, root) in enumerate(roots.items())
    }
    delays: dict[str, list[float]] = {name: [] for name in roots}
    try:
        clients = {name: httpx.Client(base_url=d.url, timeout=60) for name, d in demos.items()}
        for client in clients.values():  # the probe station and its first hours
            demo_probes(client, 0, 13)
        done = 0
        while done < probes:
            step = min(10, probes - done)
            for name, client in clients.items():
                delays[name] += demo_probes(client, 13 + done, step)
            done += step
        health = {
            name: {
                s: v.get("recentDelayP95Seconds")
                for s, v in c.get("/health").json().get("services", {}).items()
            }
            for name, c in clients.items()
        }
        for client in clients.values():
            client.close()
    finally:
        for d in demos.values():
            d.stop()
    return {
        name: {
            "p50_s": round(_quantile(v, 0.5), 4),
            "p95_s": round(_quantile(v, 0.95), 4),
            "max_s": round(max(v), 4),
            "services_recent_p95_s": health[name],
        }
        for name, v in delays.items()
    }


def _key(name: str, label: str) -> str:
    """A figure's key: ``name`` for this checkout, ``name_<label>`` for another."""
    return name if label == "this" else f"{name}_{label}"


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
    parser.add_argument("--demo", type=int, default=0, help="CAI probes with the demo running")
    parser.add_argument("--demo-speed", type=float, default=60.0, help="the demo's --speed")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--airquality-only",
        action="store_true",
        help="throughput: toggle the air-quality service alone (the others as by default)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="throughput: upsert with options=update (as the demo writes), not replace",
    )
    parser.add_argument(
        "--settled",
        action="store_true",
        help="throughput: wait for the services after each round (the CPU per entity is "
        "then every station-hour's whole work; the rate includes the waits)",
    )
    parser.add_argument("--skip-paced", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if args.smoke:
        args.stations, args.rounds, args.rate, args.seconds, args.repeat = 5, 3, 20.0, 1.0, 1
    roots = {"this": ROOT}
    if args.against:
        roots["against"] = args.against.resolve()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cityhub-aq-bench-") as name:
        tmp = Path(name)
        if not args.skip_throughput:
            every = not args.airquality_only
            for label in roots:
                figures[_key("off", label)], figures[_key("on", label)] = [], []
            for n in range(args.repeat):  # interleaved: all see the same neighbours' load
                for label, root in roots.items():
                    for service in (False, True):
                        figures[_key("on" if service else "off", label)].append(
                            throughput(
                                tmp / label / f"{n}",
                                args.port + service,
                                service,
                                args.stations,
                                args.rounds,
                                every,
                                root,
                                args.update,
                                args.settled,
                            )
                        )
        if not args.skip_paced:
            for n, (label, root) in enumerate(roots.items()):
                figures[f"delay_{label}"] = delay(
                    tmp / label, args.port + 2 + n, args.stations, args.rate, args.seconds, root
                )
        if args.demo:
            figures["demo"] = demo_delay(tmp, args.port + 4, args.demo, roots, args.demo_speed)
    load = os.getloadavg()
    figures["loadavg"] = load
    print(f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs)")
    toggled = "the air-quality service" if args.airquality_only else "every city service"
    for label in roots:
        if _key("on", label) not in figures:
            continue
        off, on = _median(figures[_key("off", label)]), _median(figures[_key("on", label)])
        ratio = figures[_key("ratio", label)] = on["entities_per_s"] / off["entities_per_s"]
        # (the smoke run is too short for the kernel's 10 ms CPU ticks to see the service off)
        cpu_ratio = on["cpu_ms_per_entity"] / max(off["cpu_ms_per_entity"], 1e-9)
        figures[_key("cpu_ratio", label)] = cpu_ratio
        mode = "options=update" if args.update else "replacing each station"
        if args.settled:
            mode += ", the services settled after each round"
        print(
            f"batch upsert of {args.stations} stations x {args.rounds} hours ({label}, {mode}), "
            f"median of {args.repeat}, {toggled} off / on"
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
    for label in roots:
        paced = figures.get(f"delay_{label}")
        if paced:
            print(
                f"delay at {args.rate:g} observations/s for {args.seconds:g} s ({label}): "
                f"{paced['computed']} computed of {paced['observations']}, "
                f"commit -> CAI p95 {paced['delayP95Seconds']} s"
            )
    for label, d in figures.get("demo", {}).items():
        print(
            f"demo at {args.demo_speed:g}x ({label}, {roots[label]}): {args.demo} probes, "
            "answer -> CAI seen "
            f"p50 {d['p50_s']:.3f} s, p95 {d['p95_s']:.3f} s, max {d['max_s']:.3f} s; "
            f"services' recent p95 {d['services_recent_p95_s']}"
        )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
