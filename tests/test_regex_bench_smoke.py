"""bench/regex_bench.py's smoke mode (issue 22 item 1): its three phases run against a real
server and every request answers without errors, so the benchmark never rots. It times
nothing: figures come from the full run (docs/performance.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_regex_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "regex.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "regex_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (phases,) = json.loads(out.read_text())["rounds"]
    assert set(phases) == {"alone", "+ scans", "+ hostile regex"}
    for name, phase in phases.items():
        for who, result in phase.items():
            assert result["requests"] > 0 and result["errors"] == 0, (name, who)
    assert "| + hostile regex |" in run.stdout
