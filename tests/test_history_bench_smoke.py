"""bench/history_bench.py on a tiny city (issue 21): the load, the four queries and the floors
run against a real server and answer, and a load cut off after some units resumes without
duplicating a single instance. It times nothing: figures come from the full run
(docs/performance.md)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--sensors", "3", "--months", "2", "--requests", "2", "--floor-rows", "3000"]


def _bench(work: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "bench" / "history_bench.py"), *ARGS, "--port", "0"]
    run = subprocess.run(
        [*cmd, "--workdir", str(work), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _instances(work: Path) -> int:
    conn = sqlite3.connect(work / "hub.db")
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM attribute_instances WHERE observed_at IS NOT NULL"
            ).fetchone()[0]
        )
    finally:
        conn.close()


def test_history_bench_smoke_and_resume(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "run.json"
    run = _bench(work, out)
    result = json.loads(out.read_text())
    total = 3 * (31 + 28) * 24 * 4
    assert result["load"]["instances"] == result["load"]["total_instances"] == total
    assert _instances(work) == total
    assert len(result["queries"]) == 5
    for name, q in result["queries"].items():
        assert q["requests"] == 2 and q["values_per_answer"] > 0, name
    # over the newest month alone: one period per sensor of the district; over the year, two
    newest = result["queries"]["monthly max, 1 district, 1 month"]
    assert newest["values_per_answer"] == newest["entities_per_answer"]
    year = result["queries"]["monthly max, 1 district"]
    assert year["values_per_answer"] == 2 * year["entities_per_answer"]
    assert result["load"]["hub_cpu_us_per_instance"] > 0
    assert result["floor"]["minimal"]["cpu_us_per_row"] > 0
    assert result["floor"]["minimal"]["rows"] > 0 and result["floor"]["cityhub"]["rows"] > 0
    assert result["bytes"]["history_bytes_per_instance"] > 0
    assert "| daily means, 1 sensor, 1 year |" in run.stdout

    # as if the hub had been stopped before the last two units were written down
    progress = work / "progress.txt"
    units = progress.read_text().split()
    progress.write_text("".join(u + "\n" for u in units[:-2]))
    run = _bench(work, out, "--skip", "floor,queries")
    assert "resuming" in run.stdout
    assert json.loads(out.read_text())["load"]["instances"] == 2 * 28 * 24 * 4  # February's
    assert _instances(work) == total  # sent again, recorded once
