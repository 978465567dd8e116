"""Crash safety of the air-quality service, on both backends: a process commits twelve hours of
readings (the service's work item commits with them), a worker claims the item and the
process is killed with SIGKILL before computing it. The next hub started on the same database
computes the CAI, once: the item was still there, and one airQualityIndex instance is in the
history."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.airquality.test_service import EID, observation, settle
from tests.conftest import make_client

CHILD = textwrap.dedent(
    """
    import asyncio, copy, os, signal, sys, time
    from cityhub.airquality.service import AirQualityService
    from cityhub.ngsild import ops
    from cityhub.ngsild.datetime import now_iso
    from cityhub.services import ServiceRunner
    from cityhub.settings import Settings
    from cityhub.store.open import open_backend

    NS = "https://uri.etsi.org/ngsi-ld/default-context/"
    EID = sys.argv[2]
    UNITS = {"pm10": "GQ", "pm25": "GQ", "no2": "59", "o3": "59"}
    CLEAN = {"pm10": 20.0, "pm25": 25.0, "no2": 0.02, "o3": 0.02}

    def attrs(hour):
        at = f"2026-11-01T{hour:02d}:30:00Z"
        return {NS + p: [{"type": "Property", "value": v, "unitCode": UNITS[p], "observedAt": at}]
                for p, v in CLEAN.items()}

    async def main():
        backend = open_backend(sys.argv[1], Settings(reader_threads=1))
        runner = ServiceRunner(backend.store, backend.temporal, backend.work,
                               [AirQualityService(coalesce=0)])
        backend.add_tx_hook(runner.hook)  # the hook, as the hub installs it; no worker runs
        await backend.start()
        entity = ops.new_entity({"id": EID, "type": [NS + "AirQualityObserved"],
                                 "attrs": attrs(0)}, now_iso())
        await backend.store.write("", lambda tx: tx.insert(entity))
        for hour in range(1, 12):
            def update(tx, hour=hour):
                before = tx.get(EID)
                after = copy.deepcopy(before)
                ops.append_attributes(after, {"attrs": attrs(hour)}, now_iso())
                tx.save(after, before)
            await backend.store.write("", update)
        items = await backend.work.claim("airquality", time.time(), 10, lease=1.0)
        print(len(items), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # between the commit and the computation

    asyncio.run(main())
    """
)


def test_sigkill_between_commit_and_computation_loses_nothing(
    tmp_path: Path, store_url: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, EID],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout.strip() == "1"  # the item was claimed, then its worker died
    with make_client(tmp_path, store_url, airquality_service=True) as c:
        settle(c)
        body = observation(c)
        assert body["airQualityIndex"]["value"] == 74
        r = c.get(f"/ngsi-ld/v1/temporal/entities/{EID}", params={"attrs": "airQualityIndex"})
        assert r.status_code == 200, r.text
        history = r.json()["airQualityIndex"]
        assert isinstance(history, dict) or len(history) == 1  # computed once
        assert c.get("/health").json()["services"]["airquality"]["done"] == 1
