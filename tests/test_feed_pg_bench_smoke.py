"""The PostgreSQL feed-cost benchmark's smoke run (issue 17): both modes (dashboard on, with a
``pg_notify`` per write transaction, and off) write through a real hub on a throwaway
PostgreSQL/PostGIS and give every figure, so the full bench never rots. It times nothing
against a target: figures come from the full run (``python3 bench/feed_pg_bench.py``,
docs/dashboard.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres.server import unavailable_reason

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_feed_pg_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "feed.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "feed_pg_bench.py"), "--rounds", "1"]
        + ["--batches", "2", "--batch", "10", "--patches", "10", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    medians = json.loads(out.read_text())
    for mode in ("on", "off"):
        figures = medians[mode]
        assert figures["batch_entities_per_s"] > 0 and figures["patch_per_s"] > 0, figures
        # CPU is counted in clock ticks (10 ms): a smoke run's few writes may show none
        cpu = [v for k, v in figures.items() if "cpu" in k]
        assert len(cpu) == 4 and all(v >= 0 for v in cpu), figures
