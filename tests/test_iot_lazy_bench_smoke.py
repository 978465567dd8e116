"""The lazy-attribute benchmark's smoke mode (issue 18): the reads it times succeed (the lazy
value comes from the device, no warning), so the bench never rots. It times nothing: figures
come from the full run (``python3 bench/iot_lazy_bench.py``, docs/iot.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_iot_lazy_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "lazy.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "iot_lazy_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["reads_per_kind"] == 5 and result["ratio_plain_to_lazy"] > 0
    assert "with a lazy attribute" in run.stdout
