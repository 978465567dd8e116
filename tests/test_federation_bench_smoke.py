"""bench/federation_bench.py's smoke mode (issue 23, "Speed"): its hubs start, every query
answers the right entities (the bench asserts it), with a source down too, so the benchmark
never rots. It times nothing: figures come from the full run (docs/federation.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_federation_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "federation.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "federation_bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert figures["entities"] == 10 and figures["down_requests"] == 10
    assert {"ratio_to_local", "down_p95_ms_breaker", "down_p95_ms_no_breaker"} <= set(figures)
