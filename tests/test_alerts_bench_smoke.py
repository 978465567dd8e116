"""The alert delay benchmark's smoke mode (issue 16): it starts the demo, probes a few alerts
and reports their delays, so the full benchmark never rots. It times nothing itself: figures
come from the manual run (``python3 bench/alerts_bench.py``, see bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_alerts_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "alerts.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "alerts_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["probes"] == 3
    for kind in ("open", "close"):
        assert 0 < result[kind]["p50_s"] <= result[kind]["p95_s"] <= result[kind]["max_s"]
    assert result["alerts_in_hub"] >= 3  # one per probe, at least
    assert "commit -> alert open" in run.stdout
