"""bench/reading_bench.py on a tiny city (issue 21, the projection in docs/deploying.md): every
reading it sends, one per PATCH or a gateway's batch, is in the history with its observedAt
(four numbers a reading), and it reports a CPU per reading. It times nothing: figures come from
the full runs (docs/performance.md)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("extra", "readings"), [([], 5 + 10), (["--batch", "5"], 5 + 10 * 5)])
def test_every_reading_is_recorded(tmp_path: Path, extra: list[str], readings: int) -> None:
    work = tmp_path / "work"
    cmd = [sys.executable, str(ROOT / "bench" / "reading_bench.py"), "--port", "0"]
    run = subprocess.run(
        [*cmd, "--sensors", "5", "--requests", "10", "--workdir", str(work), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # The hub's CPU comes from /proc in clock ticks (10 ms): ten tiny requests may well cost
    # less than one tick, so the figure is only checked to be there and sane.
    assert result["store"] == "sqlite" and result["hub_cpu_ms_per_reading"] >= 0
    conn = sqlite3.connect(work / "hub.db")
    try:
        observed = conn.execute("SELECT count(observed_at) FROM attribute_instances").fetchone()[0]
    finally:
        conn.close()
    assert observed == 4 * readings  # the warm-up (every sensor once) and the measured ones
