"""The district indicators benchmark's smoke mode (issue 16): it writes a quarter day of the
demo city and computes three hours of its indicators, so the full benchmark never rots. It
times nothing itself: figures come from the manual run (``python3 bench/indicators_bench.py``,
see bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_indicators_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "indicators.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "indicators_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["hours"] == 3 and result["districts"] == 54
    assert result["instances_read"] > 0 and result["kpis_written"] > 0
    assert result["ratio_to_hourly_reads"] > 0
    assert "compute / reading the day's history" in run.stdout
