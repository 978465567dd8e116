"""The dashboard benchmark's smoke mode (issue 17): every measurement runs against a real hub in
Debian's headless Chromium and gives a number, so the full bench never rots. It times nothing
against a target: figures come from the full run (``python3 bench/dashboard_bench.py``,
docs/dashboard.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="the dashboard's browser tests need Debian's chromium (apt-get install chromium)",
)
def test_dashboard_bench_smoke(tmp_path: Path) -> None:
    pytest.importorskip("playwright", reason="needs playwright (pip install -e '.[dev]')")
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dashboard_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    first = result["first_load"]
    assert first["markers"] == result["entities"] == 50
    assert first["seconds"] > 0 and first["requests"] > 0 and first["bytes"] > 0
    latency = result["commit_to_colour_ms"]
    assert latency["n"] == 4 and 0 < latency["p50"] <= latency["p95"] <= latency["max"]
    under = result["under_updates"]
    assert under["entities_per_s"] > 0 and under["fps"] > 0
    assert under["requests_per_min"] > 0 and under["bytes_per_min"] > 0
