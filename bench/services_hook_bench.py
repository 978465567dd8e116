"""What the city services cost inside a write transaction (issue 16, "batch upsert rate with
all services on vs off"). Ratios in one run.

The services decide what a change asks of them inside the change's transaction
(``ServiceRunner.hook``, each service's ``requests``, then the ``service_work`` rows), so
every write pays for it on the store's single writer. This bench isolates that cost: a SQLite
store in a fresh process with the history hook only, and one with the services' hook too
(every city service the default settings switch on, the alert engine with its rules read, as
a running hub's worker has them after its first item; no worker runs), one after the other
(one process each: a store's background threads, its WAL checkpoints, would count in the
other's CPU time). Each round writes ``--stations`` AirQualityObserved stations (six
pollutants, a location, a name and the six attributes the air-quality service derives, as a
station with the services on carries them) with the next hour's readings, in one transaction
(as a batch upsert with ``options=update`` does); the process's CPU time of each write is
summed. Prints CPU per entity without and with the hook, and the hook's own share (the
difference). ``--against ROOT`` runs the same with the code of another checkout, interleaved
run by run (the hook's cost before / after in one run).

    python3 bench/services_hook_bench.py [--stations 100] [--rounds 24] [--repeat 3]
    python3 bench/services_hook_bench.py --against /path/to/other/checkout
    python3 bench/services_hook_bench.py --smoke --out /tmp/hook.json   # the smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NS = "https://uri.etsi.org/ngsi-ld/default-context/"
UNITS = {"pm10": "GQ", "pm25": "GQ", "no2": "59", "o3": "59", "co": "59", "so2": "59"}


def child(stations: int, rounds: int, db_dir: Path, variant: str) -> dict[str, Any]:
    """In a process whose ``cityhub`` is the checkout measured: CPU seconds per round of the
    store (``variant`` plain: the history hook only; hooked: and the services')."""
    import asyncio
    import random
    import time

    from cityhub.app import city_services
    from cityhub.services import ServiceRunner
    from cityhub.settings import Settings
    from cityhub.store.open import open_backend

    rng = random.Random(5)

    def now() -> str:
        return "2026-12-01T00:00:00.000000Z"

    def prop(value: Any) -> dict[str, Any]:
        return {"type": "Property", "value": value, "createdAt": now(), "modifiedAt": now()}

    def readings(hour: int) -> dict[str, list[dict[str, Any]]]:
        at = f"2026-11-{1 + hour // 24:02d}T{hour % 24:02d}:{rng.randrange(60):02d}:00Z"
        out = {}
        for name, unit in UNITS.items():
            inst = prop(round(rng.uniform(0.01, 80), 3))
            inst.update(unitCode=unit, observedAt=at)
            out[NS + name] = [inst]
        return out

    def station(n: int) -> dict[str, Any]:
        derived = {
            "airQualityIndex": prop(74),
            "airQualityLevel": prop("moderate"),
            "airQualityIndexStatus": prop("computed"),
            "caiSubIndex": prop({"pm25": 74, "pm10": 31}),
            "whoGuideline": prop({"pm25": {"exceeds": True, "ratio": 1.7}}),
            "healthAdvice": {
                "type": "LanguageProperty",
                "languageMap": {
                    "ko": "민감군은 실외 활동을 줄이세요.",
                    "en": "Sensitive groups: less outdoors.",
                },
            },
        }
        attrs = {NS + k: [v] for k, v in derived.items()}
        attrs[NS + "name"] = [prop(f"station {n}")]
        attrs["https://uri.etsi.org/ngsi-ld/location"] = [
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.0 + n * 1e-3, 37.4]},
                "createdAt": now(),
                "modifiedAt": now(),
            }
        ]
        attrs.update(readings(0))
        return {
            "id": f"urn:ngsi-ld:AirQualityObserved:hook:{n}",
            "type": [NS + "AirQualityObserved"],
            "createdAt": now(),
            "modifiedAt": now(),
            "attrs": attrs,
        }

    def batch(hour: int) -> Any:
        fresh = {n: readings(hour) for n in range(stations)}

        def fn(tx: Any) -> None:
            for n in range(stations):
                eid = f"urn:ngsi-ld:AirQualityObserved:hook:{n}"
                before = tx.get(eid)
                if before is None:
                    tx.insert(station(n))
                    continue
                after = {**before, "attrs": {**before["attrs"], **fresh[n]}, "modifiedAt": now()}
                tx.save(after, before)

        return fn

    async def main() -> dict[str, Any]:
        settings = Settings(reader_threads=1)
        stores = {}
        for name in (variant,):
            backend = open_backend(f"sqlite:///{db_dir / name}.db", settings)
            if name == "hooked":
                runner = ServiceRunner(
                    backend.store,
                    backend.temporal,
                    backend.work,
                    city_services(settings),
                )
                backend.add_tx_hook(runner.hook)
            await backend.start()
            for service in runner.services if name == "hooked" else ():
                book = getattr(service, "rulebook", None)
                if book is not None:  # as a running hub's alert worker has (its first item)
                    await book.refresh(backend.store, "")
            stores[name] = backend
        cpu: dict[str, list[float]] = {name: [] for name in stores}
        try:
            for backend in stores.values():  # the stations, not timed
                await backend.store.write("", batch(0))
            for hour in range(1, rounds + 1):
                for name, backend in stores.items():
                    write = batch(hour)
                    start = time.process_time()
                    await backend.store.write("", write)
                    cpu[name].append(time.process_time() - start)
        finally:
            for backend in stores.values():
                await backend.close()
        return {"cpu_s": cpu}

    return asyncio.run(main())


def run_child(root: Path, stations: int, rounds: int, variant: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("CITYHUB_")}
    with tempfile.TemporaryDirectory(prefix="cityhub-hook-bench-") as tmp:
        cmd = [sys.executable, __file__, "--child", tmp, "--stations", str(stations)]
        cmd += ["--rounds", str(rounds), "--variant", variant]
        done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the child on {root} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def per_entity_us(cpu: list[float], stations: int) -> float:
    return sum(cpu) * 1e6 / (stations * len(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="plain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.stations, args.rounds, args.child, args.variant)))
        return
    if args.smoke:
        args.stations, args.rounds, args.repeat = 5, 2, 1
    roots = {"this": ROOT}
    if args.against:
        roots["against"] = args.against.resolve()
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in roots}
    for _ in range(args.repeat):  # interleaved: every checkout sees the same neighbours' load
        for label, root in roots.items():
            cpu = {
                variant: run_child(root, args.stations, args.rounds, variant)["cpu_s"][variant]
                for variant in ("plain", "hooked")
            }
            plain = per_entity_us(cpu["plain"], args.stations)
            hooked = per_entity_us(cpu["hooked"], args.stations)
            runs[label].append({"plain_us": plain, "hooked_us": hooked, "hook_us": hooked - plain})
    load = os.getloadavg()
    figures: dict[str, Any] = {"runs": runs, "loadavg": load}
    print(f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs)")
    print(
        f"{args.stations} AirQualityObserved stations x {args.rounds} rounds in one transaction "
        f"each, process CPU per entity, median of {args.repeat}"
    )
    for label in roots:
        median = {k: statistics.median(r[k] for r in runs[label]) for k in runs[label][0]}
        figures[label] = median
        print(
            f"  {label} ({roots[label]}): history hook only {median['plain_us']:.0f} us, "
            f"with the services' hook {median['hooked_us']:.0f} us "
            f"({median['hooked_us'] / median['plain_us']:.2f} x); the services' hook "
            f"{median['hook_us']:.0f} us"
        )
    if "against" in figures:
        ratio = figures["this"]["hook_us"] / max(figures["against"]["hook_us"], 1e-9)
        figures["hook_ratio"] = ratio
        print(f"  the services' hook, this / against: {ratio:.2f}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
