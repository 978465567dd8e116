"""uvicorn's h11 protocol against cityhub's httptools one (``serving.HubHttpProtocol``): the
same hub, a retrieve of one registration by ``wrk``, the variants alternated round by round
(their ratio in one run is what to quote). httptools lower-cases response header names, h11
keeps their spelling; cityhub stays on httptools and spells ``Location`` with
``api/location.py``'s ``SpelledName`` (issue 23).

    python3 bench/http_protocol_bench.py --rounds 3 --seconds 8

Needs ``wrk`` on the PATH; binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REG = "urn:ngsi-ld:ContextSourceRegistration:bench"
BODY = (
    b'{"id":"' + REG.encode() + b'","type":"ContextSourceRegistration",'
    b'"information":[{"entities":[{"type":"Building"}]}],"endpoint":"http://127.0.0.1:9/x"}'
)


def serve(variant: str, port: int, db: str) -> None:
    """Run the hub with ``variant`` (h11 or httptools) until killed."""
    from cityhub.app import create_app
    from cityhub.serving import HubServer, bind, server_config
    from cityhub.settings import Settings

    settings = Settings(store=f"sqlite:///{db}", port=port, airquality_service=False)
    config = server_config(create_app(settings), settings)
    if variant == "h11":
        config.http = "h11"
    HubServer(config).run(sockets=[bind("127.0.0.1", port)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(base: str) -> None:
    for _ in range(240):
        try:
            urllib.request.urlopen(base + "/health/live", timeout=1).close()
            return
        except OSError:
            time.sleep(0.25)
    raise SystemExit("the hub did not start")


def one_round(variant: str, seconds: int) -> float:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, __file__, "--serve", variant, str(port), str(Path(tmp, "b.db"))]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's cityhub
        hub = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _ready(base)
            request = urllib.request.Request(
                base + "/ngsi-ld/v1/csourceRegistrations",
                data=BODY,
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=10).close()
            url = f"{base}/ngsi-ld/v1/csourceRegistrations/{REG}"
            out = subprocess.run(
                ["wrk", "-t1", "-c8", f"-d{seconds}s", url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            found = re.search(r"Requests/sec:\s+([\d.]+)", out)
            assert found is not None, out
            return float(found.group(1))
        finally:
            hub.terminate()
            hub.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--serve", nargs=3, metavar=("VARIANT", "PORT", "DB"))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return
    ratios = []
    for n in range(1, args.rounds + 1):
        fast = one_round("httptools", args.seconds)
        slow = one_round("h11", args.seconds)
        load = Path("/proc/loadavg").read_text().split()[0]
        ratios.append(slow / fast)
        print(
            f"round {n}: httptools {fast:,.0f} rps, h11 {slow:,.0f} rps, "
            f"ratio {slow / fast:.2f}, load {load}"
        )
    print(f"h11 / httptools: median {statistics.median(ratios):.2f} of {len(ratios)} rounds")


if __name__ == "__main__":
    main()
