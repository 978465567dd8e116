"""The IoT benchmark's smoke mode (issue 18): every rate is measured against a real server (and
a real Mosquitto when installed) without errors, so the bench never rots. It times nothing:
figures come from the full run (``python3 bench/iot_bench.py``, docs/iot.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_iot_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "iot.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "iot_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["upsert_entities_per_s"] > 0 and result["iot_json_per_s"] > 0
    assert "x upsert" in run.stdout
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        assert result["mqtt_per_s"] > 0 and result["mqtt_p95_latency_s"] > 0
