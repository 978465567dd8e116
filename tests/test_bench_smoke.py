"""The benchmark suite's smoke mode (issue #7): every scenario runs against a real server and
answers without errors, so the full bench never rots. It times nothing: figures come from the
manual full run (``python3 bench/suite.py``, see docs/performance.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "retrieve",
    "query type+q",
    "query type+rel",
    "geo near 2 km",
    "temporal retrieve",
    "temporal aggregated",
    "partial attr update",
    "update attrs",
    "create",
    "batch upsert 100",
}


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_bench_suite_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    floors = result["floors"]
    assert floors["http"]["get"]["requests"] > 0 and floors["http"]["post"]["requests"] > 0
    assert floors["storage"]["insert_per_s"] > 0
    (size,) = result["sizes"].values()
    assert SCENARIOS <= set(size)
    for name in SCENARIOS:
        assert size[name]["requests"] > 0 and size[name]["errors"] == 0, name
    assert 0 < size["rss_mb"] < 1000
    assert "| retrieve |" in run.stdout and "/ HTTP floor" in run.stdout
