"""``bench/write_cpu.py --smoke`` (issue 21's write path, in-process) runs and reports every
figure: it times nothing here, the figures come from full runs (docs/performance.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_write_cpu_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "write_cpu.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert Path(out["cityhub"]) == ROOT  # the tree it was run from, not another install
    assert out["upsert"]["writer_us_per_entity_p25"] > 0
    for name in ("partial attr update", "create"):
        assert out[name]["writer_us_p25"] > 0
        assert out[name]["written_bytes_per_request"] > 0  # WAL frames of each commit
