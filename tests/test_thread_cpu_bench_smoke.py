"""``bench/thread_cpu.py --smoke`` (issue 21: CPU per request of each thread of a running hub)
runs a hub of this tree and reports the event loop's and the writer's CPU for each scenario:
it times nothing here, the figures come from full runs (docs/performance.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (bench/README.md)")
def test_thread_cpu_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "thread_cpu.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    runs = {r["scenario"]: r for r in out["runs"]}
    assert set(runs) == {"partial attr update", "create", "batch upsert 100", "retrieve"}
    assert all(r["tree"] == str(ROOT) for r in out["runs"])
    for name in ("partial attr update", "create"):
        assert runs[name]["us_per_request"]["loop"] > 0
        assert runs[name]["us_per_request"]["writer"] > 0  # writes run on the writer
    assert runs["retrieve"]["us_per_request"]["loop"] > 0
