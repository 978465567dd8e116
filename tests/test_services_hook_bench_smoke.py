"""The services' hook benchmark's smoke mode (issue 16): both stores are written, with and
without the city services' transaction hook, and the figures come out, so the benchmark never
rots. It times nothing: figures come from the full run
(``python3 bench/services_hook_bench.py``, docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_services_hook_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "hook.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "services_hook_bench.py"), "--smoke"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    (only,) = result["runs"]["this"]
    assert only["plain_us"] > 0 and only["hooked_us"] > 0
    assert "the services' hook" in run.stdout
