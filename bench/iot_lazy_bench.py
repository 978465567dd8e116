"""What a read of a device's lazy attribute costs (issue 18, docs/iot.md "Lazy attributes").

In one process (the app through Starlette's in-process client, as the hub's own tests), a
device with one lazy attribute answers over HTTP on loopback; the bench retrieves, in
interleaved rounds, an entity without lazy attributes and the entity whose lazy attribute is
asked of the device, and prints the median and p95 of each and the ratio of the medians
(plain / lazy: how many lazy reads cost one plain read's time). Figures: quote the ratio, with
the machine's load.

    python3 bench/iot_lazy_bench.py [--reads 200] [--rounds 3] [--out result.json]
    python3 bench/iot_lazy_bench.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.testclient import TestClient  # noqa: E402

from cityhub.app import create_app  # noqa: E402
from cityhub.settings import Settings  # noqa: E402

HEADERS = {"Fiware-Service": "bench", "Fiware-ServicePath": "/"}
TENANT = {"NGSILD-Tenant": "bench"}


class _Device(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        # one write: a response split in two small segments waits out the client's delayed
        # ACK (about 40 ms on Linux), which would measure the device, not the hub
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nl|42")

    def log_message(self, *args: Any) -> None:
        pass


def _provision(client: TestClient, device_url: str) -> None:
    group = {"apikey": "k", "resource": "/iot/d", "entity_type": "Thing"}
    r = client.post("/iot/groups", json={"groups": [group]}, headers=HEADERS)
    assert r.status_code == 201, r.text
    lazy = [{"object_id": "l", "name": "luminosity", "type": "Number"}]
    devices = [
        {"device_id": "plain", "apikey": "k"},
        {"device_id": "lazy", "apikey": "k", "endpoint": device_url, "lazy": lazy},
    ]
    r = client.post("/iot/devices", json={"devices": devices}, headers=HEADERS)
    assert r.status_code == 201, r.text
    for device in ("plain", "lazy"):
        r = client.post(f"/iot/d?k=k&i={device}", content="t|1")
        assert r.status_code == 200, r.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=200, help="reads per kind per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--smoke", action="store_true", help="a few reads (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.reads, args.rounds = 5, 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Device)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    device_url = f"http://127.0.0.1:{server.server_address[1]}/d"
    times: dict[str, list[float]] = {"plain": [], "lazy": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            store=f"sqlite:///{Path(tmp) / 'bench.db'}",
            airquality_service=False,
            indicators_service=False,
            dashboard=False,
        )
        with TestClient(create_app(settings)) as client:
            _provision(client, device_url)
            check = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:lazy", headers=TENANT)
            assert check.json()["luminosity"]["value"] == 42, check.text
            for _ in range(args.rounds):
                for kind in ("plain", "lazy"):
                    path = f"/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:{kind}"
                    for _ in range(args.reads):
                        start = time.perf_counter()
                        r = client.get(path, headers=TENANT)
                        times[kind].append(time.perf_counter() - start)
                        assert r.status_code == 200 and "NGSILD-Warning" not in r.headers
    server.shutdown()
    median = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: sorted(v)[int(len(v) * 0.95)] for k, v in times.items()}
    result = {
        "reads_per_kind": len(times["plain"]),
        "plain_median_s": median["plain"],
        "lazy_median_s": median["lazy"],
        "plain_p95_s": p95["plain"],
        "lazy_p95_s": p95["lazy"],
        "ratio_plain_to_lazy": median["plain"] / median["lazy"],
        "load_average": os.getloadavg()[0],
    }
    print(
        f"retrieve, median: plain {median['plain'] * 1000:.2f} ms, with a lazy attribute "
        f"{median['lazy'] * 1000:.2f} ms: ratio {result['ratio_plain_to_lazy']:.2f} "
        f"(p95 {p95['plain'] * 1000:.1f} / {p95['lazy'] * 1000:.1f} ms; "
        f"load {result['load_average']:.1f})"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
