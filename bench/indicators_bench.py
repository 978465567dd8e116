"""District indicators benchmark (issue 16, "Speed and reliability"): computing a day of the
demo city's indicators (50 dong, 3 gu and the city: 54 districts x 9 indicators, hourly and
daily) as a ratio to reading that day's history. Ratios in one run, in-process.

1. The demo city (``cityhub.demo``) is written to a fresh store through the public API with
   ``--days`` of history (the simulator's backfill), every city service off.
2. Reading: the history the indicators read for each hour of the last day (the sensor types'
   readings, one temporal query per hour, as the service issues them), ``--rounds`` times, the
   best round kept; and, for reference, the whole day in one temporal query.
3. Computing: ``IndicatorService.catch_up`` over the same 24 hours (per hour: its history, the
   tallies, and one transaction writing the hourly KPI entities and the state; the day's last
   hour also the daily ones), on a copy of the store each round (SQLite), the best round kept.

Prints the ratio compute / read (the issue's speed figure), and the split of compute into its
reads, its arithmetic and its writes.

    python3 bench/indicators_bench.py [--days 2] [--rounds 3] [--store postgresql://...]
    python3 bench/indicators_bench.py --smoke --out /tmp/ind.json   # what the smoke test runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityhub.app import create_app  # noqa: E402
from cityhub.demo.city import build_city  # noqa: E402
from cityhub.demo.clock import KST, SimClock  # noqa: E402
from cityhub.demo.simulator import Simulator, simulate  # noqa: E402
from cityhub.indicators.service import IndicatorService  # noqa: E402
from cityhub.ngsild.datetime import format_datetime  # noqa: E402
from cityhub.ngsild.temporal import TemporalQuery  # noqa: E402
from cityhub.services.service import ServiceContext, ServiceStats  # noqa: E402
from cityhub.settings import Settings  # noqa: E402
from cityhub.store.base import EntityQuery  # noqa: E402
from cityhub.store.open import open_backend  # noqa: E402

#: the simulated start: a winter weekday, midnight in Seoul (the last day is a whole day)
START = datetime(2026, 1, 15, 0, 0, tzinfo=KST)
OFF = {"airquality_service": False, "alerts_service": False, "indicators_service": False}


async def seed(store: str, days: float) -> None:
    """The demo city with ``days`` of history, through the public API, services off."""
    app = create_app(Settings(store=store, log_level="warning", **OFF))  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=600) as c:
            real = [0.0]

            async def pause(seconds: float) -> None:
                real[0] += seconds

            clock = SimClock(START, 3600.0, real=lambda: real[0])
            sim = Simulator(c, build_city(), seed=7)
            await simulate(sim, clock, backfill_days=days, until=START, pause=pause)
            if sim.problems:
                raise RuntimeError(f"the simulator met {sim.problems} problems")


class Timed:
    """The service with its reads, arithmetic and writes timed."""

    def __init__(self, hours: int) -> None:
        self.service = IndicatorService(lookback_hours=hours, clock=lambda: 4e9)
        self.read = self.write = 0.0
        read, commit = self.service._hour_history, self.service.commit_hour

        async def timed_read(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return await read(*args)
            finally:
                self.read += time.perf_counter() - t

        async def timed_commit(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return await commit(*args)
            finally:
                self.write += time.perf_counter() - t

        self.service._hour_history = timed_read  # type: ignore[method-assign]
        self.service.commit_hour = timed_commit  # type: ignore[method-assign]


async def measure(store: str, hours: int) -> dict[str, Any]:
    backend = open_backend(store, Settings(store=store))
    await backend.start()
    try:
        ctx = ServiceContext(
            "indicators", backend.store, backend.temporal, backend.work, ServiceStats()
        )
        end = START.astimezone(UTC)
        first = end - timedelta(hours=hours)
        timed = Timed(hours)
        svc = timed.service
        areas = await svc._areas(ctx, "")
        assert areas is not None, "the demo city has no districts"
        sensors, attr_names, types = await svc._sensors(ctx, "", areas)
        # reading the day's history as the service reads it: an hour at a time
        t = time.perf_counter()
        instances = 0
        for h in range(hours):
            history = await svc._hour_history(
                ctx, "", types, attr_names, first + timedelta(hours=h)
            )
            instances += sum(len(v) for attrs in history.values() for v in attrs.values())
        read_hourly = time.perf_counter() - t
        # and in one query
        t = time.perf_counter()
        tq = TemporalQuery(
            timerel="between",
            time_at=format_datetime(first),
            end_time_at=format_datetime(end),
            timeproperty="observedAt",
            timeproperty_given=True,
        )
        offset = 0
        while True:
            query = EntityQuery(
                types=tuple(types), attrs=tuple(attr_names), limit=1000, offset=offset
            )
            found, _ = await backend.temporal.query_entities("", query, tq)
            if len(found) < 1000:
                break
            offset += 1000
        read_day = time.perf_counter() - t
        timed.read = 0.0
        t = time.perf_counter()
        done = await svc.catch_up(ctx, "", end + timedelta(minutes=15))
        compute = time.perf_counter() - t
        assert done == hours, f"computed {done} hours, not {hours}"
        return {
            "hours": hours,
            "districts": len(areas.areas),
            "sensors": len(sensors),
            "instances_read": instances,
            "read_hourly_s": read_hourly,
            "read_day_s": read_day,
            "compute_s": compute,
            "compute_reads_s": timed.read,
            "compute_writes_s": timed.write,
            "kpis_written": ctx.stats.counters.get("kpisWritten", 0),
        }
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=2.0, help="days of history written")
    parser.add_argument("--hours", type=int, default=24, help="hours computed (the last ones)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", default="", help="a postgresql:// URL (default: SQLite)")
    parser.add_argument("--smoke", action="store_true", help="a few hours, one round")
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args()
    if args.smoke:
        args.days, args.hours, args.rounds = 0.25, 3, 1
    tmp = Path(tempfile.mkdtemp(prefix="cityhub-indicators-bench-"))
    try:
        seeded = args.store or f"sqlite:///{tmp / 'seed.db'}"
        t = time.perf_counter()
        asyncio.run(seed(seeded, args.days))
        took = time.perf_counter() - t
        print(f"demo city with {args.days:g} days of history written in {took:.1f} s")
        rounds = []
        for r in range(args.rounds):
            if args.store:
                if r:
                    print("PostgreSQL: one round only (the KPI entities stay in the store)")
                    break
                store = args.store
            else:
                copy = tmp / f"round{r}.db"
                shutil.copy(tmp / "seed.db", copy)
                store = f"sqlite:///{copy}"
            rounds.append(asyncio.run(measure(store, args.hours)))
            last = rounds[-1]
            print(
                f"round {r + 1}: read {last['read_hourly_s']:.3f} s (an hour at a time), "
                f"{last['read_day_s']:.3f} s (the day at once); compute {last['compute_s']:.3f} s"
            )
        best = dict(min(rounds, key=lambda x: x["compute_s"]))
        best["read_hourly_s"] = min(x["read_hourly_s"] for x in rounds)
        best["read_day_s"] = min(x["read_day_s"] for x in rounds)
        best["ratio_to_hourly_reads"] = best["compute_s"] / best["read_hourly_s"]
        best["ratio_to_day_read"] = best["compute_s"] / best["read_day_s"]
        best["compute_per_hour_s"] = best["compute_s"] / best["hours"]
        best["arithmetic_s"] = (
            best["compute_s"] - best["compute_reads_s"] - best["compute_writes_s"]
        )
        print(
            f"{best['hours']} hours of {best['districts']} districts from {best['sensors']} "
            f"sensors ({best['instances_read']} instances read):\n"
            f"  compute / reading the day's history an hour at a time: "
            f"{best['ratio_to_hourly_reads']:.1f}x\n"
            f"  compute / reading the day's history in one query:      "
            f"{best['ratio_to_day_read']:.1f}x\n"
            f"  compute per hour: {best['compute_per_hour_s'] * 1000:.0f} ms, of which "
            f"reads {best['compute_reads_s'] / best['compute_s']:.0%}, the writes "
            f"({best['kpis_written']} KPI entities, {best['kpis_written'] / best['hours']:.0f} "
            f"an hour, and the state) {best['compute_writes_s'] / best['compute_s']:.0%}"
        )
        if args.out:
            Path(args.out).write_text(json.dumps(best, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
