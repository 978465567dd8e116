"""IoT agent benchmark (issue 18). Ratios in one run, never absolute times alone.

A real ``cityhub serve`` (its own temporary SQLite file, or ``--store``) and, for MQTT, a
throwaway Mosquitto, both on 127.0.0.1. Three rates, each in entities (or measures) committed
per second, by many devices at once:

1. batch upsert: ``POST /ngsi-ld/v1/entityOperations/upsert?options=update`` of 100 device
   entities per request (the reference: the hub's fastest NGSI-LD write);
2. ``POST /iot/json``: one message of two measures per request, ``--concurrency``
   connections, each answered after its commit;

1 and 2 are driven by wrk (as ``bench/suite.py``; a Python client when wrk is missing);
3. MQTT: ``/json/<apikey>/<device>/attrs`` published QoS 1 by several publishers; the rate is
   messages over the time until the hub has committed all of them (``/iot/about``).

Each of 2 and 3 is printed as a ratio to 1 (issue 18's target: at least half). Then, while
other devices publish at half the MQTT rate, the p95 latency from a publish to its value
readable through the NGSI-LD API (so commit plus one read).

    python3 bench/iot_bench.py [--devices 200] [--messages 4000] [--concurrency 64] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mqtt_load import Publisher  # noqa: E402  (bench/mqtt_load.py: an MQTT load generator)
from suite import Scenario, run_wrk  # noqa: E402  (bench/suite.py: wrk, as the main suite)

APIKEY = "benchkey"


#: the ports the bench may take (``--ports``); None: any the system has free (port 0)
_PORTS: range | None = None
_given: set[int] = set()


def free_port() -> int:
    """A port free now: one of ``--ports`` not given before, when they are set (on a shared
    machine, one's own range), else one the system picks."""
    for port in _PORTS or (0,):
        if port and port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _given.add(port)
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in {_PORTS}")


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


class Mosquitto:
    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        conf = tmp / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port, self.proc, "mosquitto")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Hub:
    def __init__(self, store: str, mqtt_port: int | None, alerts: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CITYHUB_LOG_LEVEL": "warning", "CITYHUB_STORE": store}
        if not alerts:
            env["CITYHUB_ALERTS_SERVICE"] = "false"
        if mqtt_port is not None:
            env["CITYHUB_IOT_MQTT_URL"] = f"mqtt://127.0.0.1:{mqtt_port}"
            env["CITYHUB_IOT_MQTT_CLIENT_ID"] = f"bench-{os.getpid()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the hub did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _provision(url: str, devices: int) -> None:
    group = {
        "apikey": APIKEY,
        "resource": "/iot/json",
        "entity_type": "WeatherObserved",
        "attributes": [
            {
                "object_id": "t",
                "name": "temperature",
                "type": "Number",
                "metadata": {"unitCode": {"type": "Text", "value": "CEL"}},
            },
            {"object_id": "h", "name": "relativeHumidity", "type": "Number"},
        ],
    }
    r = httpx.post(f"{url}/iot/groups", json={"groups": [group]}, timeout=30)
    assert r.status_code == 201, r.text
    # the devices exist before timing: autoprovisioning is a one-off, not the steady state
    for start in range(0, devices, 100):
        body = {
            "devices": [
                {"device_id": f"d{n}", "apikey": APIKEY}
                for n in range(start, min(start + 100, devices))
            ]
        }
        assert httpx.post(f"{url}/iot/devices", json=body, timeout=30).status_code == 201


async def _upsert_rate(url: str, devices: int, batches: int, concurrency: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:

        def batch(k: int) -> list[dict[str, Any]]:
            return [
                {
                    "id": f"urn:ngsi-ld:WeatherObserved:u{(k * 100 + i) % devices}",
                    "type": "WeatherObserved",
                    "temperature": {"type": "Property", "value": k, "unitCode": "CEL"},
                    "relativeHumidity": {"type": "Property", "value": i},
                }
                for i in range(100)
            ]

        sem = asyncio.Semaphore(max(1, concurrency // 16))
        errors = 0

        async def one(k: int) -> None:
            nonlocal errors
            async with sem:
                r = await c.post(
                    "/ngsi-ld/v1/entityOperations/upsert?options=update", json=batch(k)
                )
                errors += r.status_code not in (201, 204)

        await one(0)  # creates them
        t0 = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(1, batches + 1)))
        elapsed = time.perf_counter() - t0
        assert errors == 0, f"{errors} upsert batches failed"
        return batches * 100 / elapsed


async def _iot_json_rate(url: str, devices: int, messages: int, concurrency: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        sem = asyncio.Semaphore(concurrency)
        errors = 0

        async def one(n: int) -> None:
            nonlocal errors
            async with sem:
                r = await c.post(
                    f"/iot/json?k={APIKEY}&i=d{n % devices}", json={"t": n % 40, "h": n % 100}
                )
                errors += r.status_code != 200

        await asyncio.gather(*(one(n) for n in range(min(devices, messages))))  # warm
        t0 = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(messages)))
        elapsed = time.perf_counter() - t0
        assert errors == 0, f"{errors} /iot/json requests failed"
        return messages / elapsed


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) a process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: wrk script of the observation upsert: each request a new body of 100 entities whose values
#: carry ``observedAt``, as a measure's do (so the hub's services, the alert engine's default
#: WeatherObserved rules among them, evaluate them as they evaluate measures); each wrk
#: thread writes its own entities, with times that only grow
_OBSERVATIONS_LUA = r"""
local counter = 0
local created = 0
tid = 0
function setup(thread)
  created = created + 1
  thread:set("tid", created)
end
local function stamp(ms)
  return os.date("!%%Y-%%m-%%dT%%H:%%M:%%S", math.floor(ms / 1000)) ..
    string.format(".%%03dZ", ms %% 1000)
end
function request()
  counter = counter + 1
  local at = stamp(%(base_ms)d + counter)
  local parts = {}
  for i = 0, 99 do
    local n = (i %% %(share)d) * %(threads)d + (tid - 1)
    parts[#parts + 1] = string.format(
      '{"id":"urn:ngsi-ld:WeatherObserved:o%%d","type":"WeatherObserved",' ..
      '"temperature":{"type":"Property","value":%%d,"unitCode":"CEL","observedAt":"%%s"},' ..
      '"relativeHumidity":{"type":"Property","value":%%d,"observedAt":"%%s"}}',
      n, counter %% 40, at, i, at)
  end
  return wrk.format("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
    {["Content-Type"]="application/json"}, "[" .. table.concat(parts, ",") .. "]")
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\nRESULT {"requests":%%d,"duration_us":%%d,"errors":%%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _observation_upsert_rate(url: str, devices: int, seconds: int, connections: int) -> float:
    """Entities/s of batch upserts (100 per request) of new observations (values with
    ``observedAt``, times growing): the same data a measure writes, through NGSI-LD."""
    threads = 2
    lua = _OBSERVATIONS_LUA % {
        "base_ms": int(time.time() * 1000),
        "share": max(1, min(100, devices // threads)),
        "threads": threads,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
             "-s", fh.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(fh.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["errors"] == 0, result
    return float(result["requests"] * 100 / (result["duration_us"] / 1e6))


def _wrk_rates(
    url: str, devices: int, seconds: int, connections: int, pid: int
) -> tuple[float, float, float, float]:
    """(upsert entities/s, /iot/json measures/s, and the hub's CPU milliseconds per entity
    and per measure) driven by wrk: the client costs next to nothing, so the hub's own rate is
    measured, as bench/suite.py does."""
    bodies = [
        json.dumps(
            [
                {
                    "id": f"urn:ngsi-ld:WeatherObserved:u{(k * 100 + i) % devices}",
                    "type": "WeatherObserved",
                    "temperature": {"type": "Property", "value": k, "unitCode": "CEL"},
                    "relativeHumidity": {"type": "Property", "value": i},
                }
                for i in range(100)
            ]
        )
        for k in range(8)
    ]
    upsert = Scenario(
        "batch upsert 100",
        "post",
        [("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update", b) for b in bodies],
        per_request=100,
    )
    run_wrk(url, upsert, 1, 4, 1)  # creates them
    cpu = cpu_seconds(pid)
    up = run_wrk(url, upsert, seconds, max(2, connections // 16), 2)
    up_cpu = (cpu_seconds(pid) - cpu) * 1000 / max(1, up["requests"] * 100)
    measures = Scenario(
        "iot json",
        "post",
        [
            ("POST", f"/iot/json?k={APIKEY}&i=d{n}", json.dumps({"t": n % 40, "h": n % 100}))
            for n in range(devices)
        ],
    )
    run_wrk(url, measures, 1, connections, 2)  # warm: every device once
    cpu = cpu_seconds(pid)
    iot = run_wrk(url, measures, seconds, connections, 2)
    iot_cpu = (cpu_seconds(pid) - cpu) * 1000 / max(1, iot["requests"])
    assert up["errors"] == 0 and iot["errors"] == 0, (up, iot)
    return float(up["entities_per_s"]), float(iot["rps"]), up_cpu, iot_cpu


def _measures(url: str) -> dict[str, int]:
    """The agent's counters (``committed`` messages, ``transactions`` run)."""
    return httpx.get(f"{url}/iot/about", timeout=30).json()["measures"]  # type: ignore[no-any-return]


def _committed(url: str) -> int:
    return int(_measures(url)["committed"])


async def _mqtt_rate(url: str, port: int, devices: int, messages: int) -> tuple[float, float]:
    """(measures/s committed, seconds the publishers took): the messages published by
    ``mqtt_load`` (its PUBLISH packets built before the clock starts), the rate counted until
    the hub committed the last one."""
    before = _committed(url)
    publishers = 4
    topics = [f"/json/{APIKEY}/d{n}/attrs" for n in range(devices)]
    shares = [
        [
            (topics[n % devices], json.dumps({"t": n % 40, "h": n % 100}).encode())
            for n in range(p, messages, publishers)
        ]
        for p in range(publishers)
    ]
    t0 = time.perf_counter()

    async def publisher(p: int) -> None:
        async with Publisher("127.0.0.1", port, f"bench-pub-{p}") as c:
            await c.publish(shares[p])

    await asyncio.gather(*(publisher(p) for p in range(publishers)))
    published = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    while _committed(url) - before < messages:
        if time.monotonic() > deadline:
            raise RuntimeError("MQTT measures were not all committed in 10 minutes")
        await asyncio.sleep(0.02)
    return messages / (time.perf_counter() - t0), published


async def _mqtt_latency(url: str, port: int, rate: float, devices: int, samples: int) -> float:
    """p95 seconds from a QoS 1 publish to the value readable through the NGSI-LD API, while
    other devices publish ``rate`` messages per second."""
    import aiomqtt

    latencies: list[float] = []
    done = asyncio.Event()

    def messages() -> Iterator[tuple[str, bytes]]:
        for n in itertools.count():
            payload = json.dumps({"t": n % 40, "h": n % 100}).encode()
            yield f"/json/{APIKEY}/d{n % devices}/attrs", payload

    async def load() -> None:
        async with Publisher("127.0.0.1", port, "bench-load") as mq:
            paced = asyncio.create_task(mq.paced(messages(), rate))
            await done.wait()
            paced.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await paced

    async def sample() -> None:
        async with (
            aiomqtt.Client("127.0.0.1", port, identifier="bench-latency") as mq,
            httpx.AsyncClient(base_url=url, timeout=30) as c,
        ):
            for n in range(samples):
                value = 1000 + n
                t0 = time.perf_counter()
                await mq.publish(f"/json/{APIKEY}/lat/attrs", json.dumps({"t": value}), qos=1)
                while True:
                    r = await c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:WeatherObserved:lat")
                    if r.status_code == 200 and r.json()["temperature"]["value"] == value:
                        break
                    await asyncio.sleep(0.002)
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.02)
        done.set()

    await asyncio.gather(load(), sample())
    latencies.sort()
    return latencies[int(0.95 * (len(latencies) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--store", default="")
    ap.add_argument("--smoke", action="store_true", help="tiny counts: it runs, no figures")
    ap.add_argument("--out", default="")
    ap.add_argument(
        "--ports", default="", help="LOW-HIGH: take the hub's and broker's ports from this range"
    )
    ap.add_argument(
        "--no-alerts",
        action="store_true",
        help="the hub without its alert engine (alerts_service false): a measure carries "
        "observedAt, which the default WeatherObserved rules evaluate; the upserted "
        "entities carry none",
    )
    args = ap.parse_args()
    if args.ports:
        global _PORTS
        low, _, high = args.ports.partition("-")
        _PORTS = range(int(low), int(high) + 1)
    if args.smoke:
        args.devices, args.messages, args.concurrency = 20, 200, 16
    have_mqtt = bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp)) if have_mqtt else None
        store = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            hub = Hub(store, broker.port if broker else None, alerts=not args.no_alerts)
        except BaseException:  # the broker would outlive the bench
            if broker is not None:
                broker.stop()
            raise
        try:
            _provision(hub.url, args.devices)
            up_cpu = iot_cpu = 0.0
            if shutil.which("wrk"):
                upsert, iot_json, up_cpu, iot_cpu = _wrk_rates(
                    hub.url, args.devices, 2 if args.smoke else 10, args.concurrency, hub.proc.pid
                )
            else:  # the Python client: slower than the hub, so the ratio is the client's
                print("wrk not found (apt-get install wrk): HTTP rates with a Python client")
                upsert = asyncio.run(
                    _upsert_rate(
                        hub.url, args.devices, max(2, args.messages // 100), args.concurrency
                    )
                )
                iot_json = asyncio.run(
                    _iot_json_rate(hub.url, args.devices, args.messages, args.concurrency)
                )
            result = {"upsert_entities_per_s": upsert, "iot_json_per_s": iot_json}
            observations = obs_cpu = 0.0
            if shutil.which("wrk"):
                seconds = 2 if args.smoke else 10
                conns = max(2, args.concurrency // 16)
                _observation_upsert_rate(hub.url, args.devices, 1, conns)  # creates them
                cpu = cpu_seconds(hub.proc.pid)
                observations = _observation_upsert_rate(hub.url, args.devices, seconds, conns)
                obs_cpu = (cpu_seconds(hub.proc.pid) - cpu) * 1000 / (observations * seconds)
                result["observation_upsert_entities_per_s"] = observations
            print(f"batch upsert (100/request): {upsert:,.0f} entities/s")
            if observations:
                print(
                    f"batch upsert of observations (observedAt, as measures): "
                    f"{observations:,.0f} entities/s"
                )
            print(
                f"/iot/json: {iot_json:,.0f} measures/s = {iot_json / upsert:.2f} x upsert"
                + (f", {iot_json / observations:.2f} x observations" if observations else "")
            )
            if broker is not None:
                before = _measures(hub.url)
                cpu = cpu_seconds(hub.proc.pid)
                mqtt, published = asyncio.run(
                    _mqtt_rate(hub.url, broker.port, args.devices, args.messages)
                )
                mqtt_cpu = (cpu_seconds(hub.proc.pid) - cpu) * 1000 / args.messages
                after = _measures(hub.url)
                per_tx = (after["committed"] - before["committed"]) / max(
                    1, after["transactions"] - before["transactions"]
                )
                p95 = asyncio.run(
                    _mqtt_latency(
                        hub.url, broker.port, mqtt / 2, args.devices, 20 if args.smoke else 200
                    )
                )
                result |= {"mqtt_per_s": mqtt, "mqtt_p95_latency_s": p95}
                print(
                    f"MQTT QoS 1: {mqtt:,.0f} measures/s = {mqtt / upsert:.2f} x upsert"
                    + (f", {mqtt / observations:.2f} x observations" if observations else "")
                    + "\n   "
                    f" ({per_tx:.0f} messages per transaction; published in {published:.1f} s,"
                    f" committed in {args.messages / mqtt:.1f} s)"
                )
                print(f"MQTT publish to readable, at {mqtt / 2:,.0f}/s: p95 {p95 * 1000:.1f} ms")
                if up_cpu:
                    # the hub's own CPU per write, which the machine's load does not change:
                    # the rate it would reach with a core to itself, as a ratio
                    print(
                        f"hub CPU: upsert {up_cpu:.2f} ms/entity, /iot/json {iot_cpu:.2f}"
                        f" ms/measure ({up_cpu / iot_cpu:.2f} x), MQTT {mqtt_cpu:.2f} ms/measure"
                        f" ({up_cpu / mqtt_cpu:.2f} x)"
                        + (
                            f"; upsert of observations {obs_cpu:.2f} ms/entity (/iot/json"
                            f" {obs_cpu / iot_cpu:.2f} x, MQTT {obs_cpu / mqtt_cpu:.2f} x)"
                            if obs_cpu
                            else ""
                        )
                    )
                    result |= {"cpu_ms": {"upsert": up_cpu, "iot_json": iot_cpu, "mqtt": mqtt_cpu}}
            else:
                print("MQTT: skipped (mosquitto is not installed)")
        finally:
            hub.stop()
            if broker is not None:
                broker.stop()
    if args.out:
        Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
