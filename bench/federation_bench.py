"""Federation (issue 23, "Speed"): a query answered from one local and one remote hub, as a
ratio to the same query answered by one hub holding every entity, and the p95 while one
registered source is down.

    python3 bench/federation_bench.py                  # 2 x 100 entities, 200 requests
    python3 bench/federation_bench.py --smoke          # a few requests: it runs, times nothing

One command, three ``cityhub serve`` processes on loopback (SQLite files in a temporary
folder): **all** holds the 2N entities; **national** holds N of them; **city** holds the other
N and registers national (inclusive, by type). The same query (``type=AirQualityObserved``,
``limit=2N``) is sent ``--requests`` times, one at a time on a kept-alive connection, to
*all* (the floor) and to *city* (answered from both), in five alternated rounds (all, city,
all, city, ...; each round's ratio is given too): the ratio is the floor's median
latency over the federated one (1.0: as fast as local; the issue's target is at least 0.5).
``cpu_ratio_to_local`` is the same for CPU: the floor hub's CPU time per request over that
of city and national together (read from /proc), which the machine's load moves far less.
Then a third registration points city at a port that takes connections and never answers,
and the same query is timed again: its p95 against ``federation_timeout`` (1 s here), with
the circuit breaker on (default: after 5 failures the source is skipped) and off.
``--out`` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the cityhub tree the hubs run (``--code``: another checkout, for A/B runs)
CODE = ROOT
BASE = "/ngsi-ld/v1"
#: alternated rounds of local and federated requests (the ratio is taken over all of them)
ROUNDS = 5
_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class Hub:
    """``cityhub serve`` on a port the system picks."""

    def __init__(self, workdir: Path, name: str, **env: str) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        environ.update({f"CITYHUB_{k.upper()}": v for k, v in env.items()})
        environ["PYTHONPATH"] = str(CODE)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--host", "127.0.0.1", "--port", "0"]
            + ["--store", f"sqlite:///{workdir / (name + '.db')}"],
            cwd=workdir,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 90
        self.port = 0
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            found = _READY.search(line)
            if found:
                self.port = int(found.group(1))
                break
        if not self.port:
            self.proc.kill()
            raise RuntimeError(f"hub {name} did not start")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def reconnect(self) -> None:
        """A fresh connection: the hub closes one idle for its keep-alive timeout."""
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, BASE + path, json.dumps(body) if body else None, headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def sensors(start: int, n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"urn:ngsi-ld:AirQualityObserved:b{i}",
            "type": "AirQualityObserved",
            "pm25": {"type": "Property", "value": i % 90, "observedAt": "2026-12-07T03:00:00Z"},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.1 + i / 10000, 37.4]},
            },
        }
        for i in range(start, start + n)
    ]


def timed(hub: Hub, path: str, requests: int, expect: int) -> list[float]:
    hub.reconnect()
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        status, body = hub.call("GET", path)
        out.append(time.perf_counter() - started)
        assert status == 200, body[:300]
        assert len(json.loads(body)) == expect, "a hub answered the wrong entities"
    return out


def cpu_seconds(hub: Hub) -> float:
    """The hub process's CPU time so far (user + system, from /proc; 0 where there is none):
    a latency ratio swings with the machine's load, the CPU a query costs much less."""
    try:
        fields = Path(f"/proc/{hub.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def registration(n: int, endpoint: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:ContextSourceRegistration:{n}",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "AirQualityObserved"}]}],
        "endpoint": endpoint,
    }


def run(n: int, requests: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"entities": 2 * n, "requests": requests}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hubs = {
            "all": Hub(work, "all"),
            "national": Hub(work, "national"),
            "city": Hub(work, "city", federation_timeout="1.0"),
            "city_nobreaker": Hub(
                work, "city2", federation_timeout="1.0", federation_breaker_failures="0"
            ),
        }
        silent = socket.socket()
        try:
            for name, batch in [
                ("all", sensors(0, 2 * n)),
                ("national", sensors(0, n)),
                ("city", sensors(n, n)),
                ("city_nobreaker", sensors(n, n)),
            ]:
                status, body = hubs[name].call("POST", "/entityOperations/upsert", batch)
                assert status in (201, 204), body[:300]
            national = f"http://127.0.0.1:{hubs['national'].port}"
            for name in ("city", "city_nobreaker"):
                status, body = hubs[name].call(
                    "POST", "/csourceRegistrations", registration(1, national)
                )
                assert status == 201, body[:300]
            path = f"/entities?type=AirQualityObserved&limit={2 * n}"
            timed(hubs["all"], path, 3, 2 * n)  # warm-up
            timed(hubs["city"], path, 3, 2 * n)
            # alternated rounds (local, federated, local, ...): load changes hit both alike
            local: list[float] = []
            federated: list[float] = []
            per_round = max(1, requests // ROUNDS)
            ratios = []
            cpu_local = cpu_federated = 0.0
            for _ in range(ROUNDS):
                before = cpu_seconds(hubs["all"])
                a = timed(hubs["all"], path, per_round, 2 * n)
                cpu_local += cpu_seconds(hubs["all"]) - before
                before = cpu_seconds(hubs["city"]) + cpu_seconds(hubs["national"])
                b = timed(hubs["city"], path, per_round, 2 * n)
                cpu_federated += cpu_seconds(hubs["city"]) + cpu_seconds(hubs["national"]) - before
                local += a
                federated += b
                ratios.append(statistics.median(a) / statistics.median(b))
            figures["round_ratios"] = [round(r, 3) for r in ratios]
            # CPU per request of the one hub over that of city + national together
            if cpu_federated > 0:
                figures["cpu_ratio_to_local"] = cpu_local / cpu_federated
            figures["local_cpu_ms_per_request"] = cpu_local / len(local) * 1000
            figures["federated_cpu_ms_per_request"] = cpu_federated / len(federated) * 1000
            figures["local_p50_ms"] = statistics.median(local) * 1000
            figures["federated_p50_ms"] = statistics.median(federated) * 1000
            figures["local_p95_ms"] = p95(local) * 1000
            figures["federated_p95_ms"] = p95(federated) * 1000
            figures["ratio_to_local"] = statistics.median(local) / statistics.median(federated)

            silent.bind(("127.0.0.1", 0))
            silent.listen(64)
            down = f"http://127.0.0.1:{silent.getsockname()[1]}"
            for name in ("city", "city_nobreaker"):
                hubs[name].reconnect()
                status, body = hubs[name].call(
                    "POST", "/csourceRegistrations", registration(2, down)
                )
                assert status == 201, body[:300]
            down_requests = max(10, requests // 4)
            with_breaker = timed(hubs["city"], path, down_requests, 2 * n)
            without = timed(hubs["city_nobreaker"], path, down_requests, 2 * n)
            figures["down_requests"] = down_requests
            figures["down_p95_ms_breaker"] = p95(with_breaker) * 1000
            figures["down_p50_ms_breaker"] = statistics.median(with_breaker) * 1000
            figures["down_p95_ms_no_breaker"] = p95(without) * 1000
            figures["timeout_ms"] = 1000.0
        finally:
            silent.close()
            for hub in hubs.values():
                hub.stop()
    figures["load_avg_1m"] = os.getloadavg()[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100, help="entities per hub")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="a few requests, no figures")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--code", type=Path, help="the cityhub tree the hubs run (A/B runs)")
    args = parser.parse_args()
    if args.code:
        global CODE
        CODE = args.code.resolve()
    if args.smoke:
        args.entities, args.requests = 5, 4
    figures = run(args.entities, args.requests)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
