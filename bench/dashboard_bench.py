"""Control tower benchmark (issue 17): the dashboard in Debian's headless Chromium (Playwright)
against a real ``cityhub serve`` on 127.0.0.1 with its own temporary SQLite file.

1. first load of a city of ``--entities`` points plus the 54 Seongnam districts: time until
   the page has drawn everything (``body[data-loaded]``), and the requests and bytes it took;
2. latency from a write to the changed colour on screen: a station's PM2.5 is patched
   ``--changes`` times between good and very unhealthy; each latency runs from just before the
   PATCH is sent (the commit is inside it) to the moment the marker's class changes in the
   page (a MutationObserver's ``Date.now()``; same machine, same clock); p50/p95/max;
3. while ``--rate`` entities a second are updated (batch upserts of a tenth each 100 ms) for
   ``--seconds`` (``--rate 0``: none, an idle screen): the page's frame rate
   (requestAnimationFrame callbacks a second) and the hub's cost of that open screen:
   requests and bytes (Chromium's own count of bytes received, the live feed's included)
   per minute.

    python3 bench/dashboard_bench.py [--entities 10000] [--changes 40] [--rate 100] [--seconds 20]
    python3 bench/dashboard_bench.py --smoke   # small numbers (tests/test_dashboard_bench_smoke.py)
    python3 bench/dashboard_bench.py --baseline 54ea7f1   # and ratios against that commit

``--baseline REF`` checks REF out into a temporary git worktree and measures its hub and page
the same way in the same run, alternately (baseline, current, ``--rounds`` times), and prints
each figure's ratio current / baseline (medians of the rounds). Where the page draws a layer
as cells at city zoom, the write-to-colour step first zooms in on the watched station (the
page's ``cityhub.map``; a page without it draws every marker anyway), and zooms back to the
city for step 3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityhub.demo.city import build_city  # noqa: E402

V1 = "/ngsi-ld/v1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PORTS = [18800, 18899]


def _port() -> int:
    for port in range(*PORTS):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS[0]}-{PORTS[1]}")


def _serve(store: str, port: int, root: Path = ROOT) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["PYTHONPATH"] = str(root)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityhub", "serve", "--port", str(port), "--store", store],
        env=env,
        cwd=root,  # python -m imports from the working directory first
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Uvicorn running on" in line:
            break
    else:
        raise RuntimeError("the hub did not start")
    tail: list[str] = []

    def keep() -> None:  # the hub's last lines, for a failed run's message
        for line in proc.stdout or ():
            tail.append(line)
            del tail[:-40]

    threading.Thread(target=keep, daemon=True).start()
    proc.tail = tail  # type: ignore[attr-defined]
    return proc


def _point(n: int, total: int) -> list[float]:
    """Points spread over Seongnam's bounding box (127.03-127.19 E, 37.34-37.47 N)."""
    side = max(1, int(total**0.5))
    x, y = n % side, n // side
    return [round(127.04 + 0.14 * x / side, 6), round(37.35 + 0.11 * y / side, 6)]


def _seed(api: httpx.Client, count: int) -> list[str]:
    city = build_city()
    areas = [a.static_entity() for a in city.assets if a.entity_type == "AdministrativeArea"]
    for start in range(0, len(areas), 20):
        api.post("/entityOperations/upsert", json=areas[start : start + 20]).raise_for_status()
    ids = [f"urn:ngsi-ld:AirQualityObserved:bench:{n}" for n in range(count)]
    for start in range(0, count, 100):
        batch = [
            {
                "id": ids[n],
                "type": "AirQualityObserved",
                "pm25": {"type": "Property", "value": 10, "unitCode": "GQ"},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": _point(n, count)},
                },
            }
            for n in range(start, min(start + 100, count))
        ]
        api.post("/entityOperations/upsert", json=batch).raise_for_status()
    return ids


ZOOM_IN = """([lat, lng]) => {
  const map = window.cityhub && window.cityhub.map;
  if (!map) return;
  window.__view = [map.getCenter(), map.getZoom()];
  map.setView([lat, lng], 16, { animate: false });
}"""

ZOOM_BACK = """() => {
  const map = window.cityhub && window.cityhub.map;
  if (map && window.__view) map.setView(window.__view[0], window.__view[1], { animate: false });
}"""

WATCH = """(id) => {
  window.__changes = [];
  const node = document.querySelector(`path[data-entity="${id}"]`);
  new MutationObserver(() => window.__changes.push([Date.now(), node.getAttribute("data-class")]))
    .observe(node, { attributes: true, attributeFilter: ["data-class"] });
}"""

FRAMES = """() => {
  window.__frames = 0;
  const f = () => { window.__frames++; requestAnimationFrame(f); };
  requestAnimationFrame(f);
}"""


def run(args: argparse.Namespace, root: Path = ROOT) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"entities": args.entities}
    with tempfile.TemporaryDirectory(prefix="cityhub-dashboard-bench-") as where:
        port = _port()
        hub = _serve(f"sqlite:///{where}/bench.db", port, root)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url + V1, timeout=120) as api, sync_playwright() as p:
                ids = _seed(api, args.entities)
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1920, "height": 1080})
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                received = {"bytes": 0}

                def count(event: dict[str, Any]) -> None:
                    received["bytes"] += event["encodedDataLength"]

                cdp.on("Network.dataReceived", count)
                requests: list[str] = []
                page.on("request", lambda r: requests.append(r.url))

                started = time.perf_counter()
                page.goto(url + "/")
                page.wait_for_selector("body[data-loaded=true]", timeout=300_000)
                loaded = time.perf_counter() - started
                page.wait_for_selector("#live[data-state=live]", timeout=30_000)
                result["first_load"] = {
                    "seconds": round(loaded, 3),
                    "requests": len(requests),
                    "bytes": received["bytes"],
                    "markers": page.locator("path[data-entity]").count(),
                }

                # 2. commit -> colour
                target = ids[0]
                lng, lat = _point(0, args.entities)
                page.evaluate(ZOOM_IN, [lat, lng])
                page.wait_for_selector(f'path[data-entity="{target}"]', timeout=30_000)
                page.evaluate(WATCH, target)
                latencies = []
                for n in range(args.changes):
                    value = 180 if n % 2 == 0 else 10
                    want = "3" if value == 180 else "0"
                    sent = time.time() * 1000
                    api.patch(
                        f"/entities/{target}/attrs",
                        json={"pm25": {"type": "Property", "value": value}},
                    ).raise_for_status()
                    page.wait_for_function(
                        "([n, want]) => window.__changes.length > n"
                        " && window.__changes[n][1] === want",
                        arg=[n, want],
                        timeout=10_000,
                    )
                    seen = page.evaluate("(n) => window.__changes[n][0]", n)
                    latencies.append(seen - sent)
                latencies.sort()
                result["commit_to_colour_ms"] = {
                    "n": len(latencies),
                    "p50": round(statistics.median(latencies), 1),
                    "p95": round(latencies[max(0, int(0.95 * len(latencies)) - 1)], 1),
                    "max": round(latencies[-1], 1),
                }

                # 3. an open screen under updates, at city zoom again: frame rate and the
                # hub's cost
                page.evaluate(ZOOM_BACK)
                page.wait_for_timeout(1000)
                page.evaluate(FRAMES)
                requests.clear()
                received["bytes"] = 0
                step = max(1, args.rate // 10)
                updated = 0
                begin = time.perf_counter()
                frames0 = page.evaluate("window.__frames")
                n = 0
                while (elapsed := time.perf_counter() - begin) < args.seconds:
                    if args.rate == 0:  # an idle city: what the open screen alone costs
                        page.wait_for_timeout(args.seconds * 1000)
                        continue
                    batch = []
                    for _ in range(step):
                        eid = ids[1 + n % (len(ids) - 1)] if len(ids) > 1 else ids[0]
                        n += 1
                        batch.append(
                            {
                                "id": eid,
                                "type": "AirQualityObserved",
                                "pm25": {"type": "Property", "value": 5 + n % 90},
                            }  # fmt: skip
                        )
                    api.post("/entityOperations/upsert?options=update", json=batch)
                    updated += len(batch)
                    pause = (n / step) * 0.1 - (time.perf_counter() - begin)
                    if pause > 0:
                        page.wait_for_timeout(pause * 1000)  # keeps the page's loop turning
                elapsed = time.perf_counter() - begin
                frames = page.evaluate("window.__frames") - frames0
                per_minute = 60 / elapsed
                result["under_updates"] = {
                    "entities_per_s": round(updated / elapsed, 1),
                    "fps": round(frames / elapsed, 1),
                    "requests_per_min": round(len(requests) * per_minute, 1),
                    "bytes_per_min": round(received["bytes"] * per_minute),
                }
                browser.close()
        except Exception:
            print("".join(hub.tail), file=sys.stderr)  # type: ignore[attr-defined]
            raise
        finally:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hub.kill()
    return result


FIGURES = (
    ("first_load", "seconds"),
    ("first_load", "requests"),
    ("first_load", "bytes"),
    ("first_load", "markers"),
    ("commit_to_colour_ms", "p50"),
    ("commit_to_colour_ms", "p95"),
    ("under_updates", "fps"),
    ("under_updates", "requests_per_min"),
    ("under_updates", "bytes_per_min"),
)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """The baseline commit and this tree, alternately, ``--rounds`` times; medians and ratios."""
    with tempfile.TemporaryDirectory(prefix="cityhub-dashboard-baseline-") as where:
        base = Path(where) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
            for _ in range(args.rounds):
                runs["baseline"].append(run(args, base))
                runs["current"].append(run(args))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )
    out: dict[str, Any] = {"entities": args.entities, "baseline": args.baseline, "figures": {}}
    for group, name in FIGURES:
        b = statistics.median(r[group][name] for r in runs["baseline"])
        c = statistics.median(r[group][name] for r in runs["current"])
        out["figures"][f"{group}.{name}"] = {
            "baseline": b,
            "current": c,
            "ratio": round(c / b, 3) if b else None,
        }
    out["runs"] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--smoke", action="store_true", help="small numbers, for the smoke test")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline", help="a git commit to compare with, in the same run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--port-base", type=int, default=PORTS[0], help="100 ports from here")
    args = parser.parse_args()
    PORTS[:] = [args.port_base, args.port_base + 99]
    if args.smoke:
        args.entities, args.changes, args.rate, args.seconds = 50, 4, 20, 2
    result = run(args) if not args.baseline else compare(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
