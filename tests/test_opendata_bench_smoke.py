"""The open data benchmark's smoke mode (issue 19): it loads a few hundred entities, runs each
scenario a few times and streams an export, so the full benchmark never rots. It times nothing
itself: figures come from the manual run (``python3 bench/opendata_bench.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_opendata_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "opendata.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "opendata_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert set(result["rps_median"]) == {"ogc page", "ngsi-ld page", "ogc bbox", "ngsi-ld bbox"}
    assert all(rps > 0 for rps in result["rps_median"].values())
    assert result["ratio_page"] > 0 and result["ratio_bbox"] > 0
    export = result["export"]
    assert export["entities"] == 1500 and export["csv_bytes"] > 1500 * 50
    assert "OGC items / NGSI-LD query" in run.stdout
