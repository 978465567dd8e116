"""The air-quality benchmark's smoke mode (issue 16): both throughput runs and the paced delay
run answer without errors, the service catches up with every station and measures its delay,
so the benchmark never rots. It times nothing: figures come from the full run
(``python3 bench/airquality_bench.py``, see bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_airquality_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "aq.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "airquality_bench.py"),
            "--smoke",
            "--port",
            "18430",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    (off,), (on,) = result["off"], result["on"]
    assert off["entities_per_s"] > 0 and on["entities_per_s"] > 0
    assert "catch_up_s" not in off
    assert on["stations_computed"] == 5  # every station's CAI is for its last hour
    assert on["service"]["pending"] == 0 and on["service"]["givenUp"] == 0
    delay = result["delay_this"]
    assert delay["observations"] > 0 and delay["computed"] > 0
    assert delay["delayP95Seconds"] is not None and delay["pending"] == 0
    assert "commit -> CAI p95" in run.stdout
