"""bench/history_bench.py on PostgreSQL (``--store``, issue 21 deliverable 3) on a tiny city:
the load through the temporal API, the four queries, the sizes read from the catalogue and
PostgreSQL's own floor run and answer, and every instance is stored once. It times nothing:
figures come from the full run (docs/performance.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.postgres.server import run as run_sql

ROOT = Path(__file__).resolve().parent.parent.parent


def _count(url: str, schema: str) -> int:
    import asyncpg

    async def fetch() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(
                await conn.fetchval(
                    f'SELECT count(*) FROM "{schema}".history_instances WHERE form IS NOT NULL'
                )
            )
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_history_bench_on_postgres(postgres_server: str, tmp_path: Path) -> None:
    work, out = tmp_path / "pg-smoke", tmp_path / "run.json"
    cmd = [sys.executable, str(ROOT / "bench" / "history_bench.py"), "--store", postgres_server]
    cmd += ["--sensors", "2", "--months", "1", "--requests", "2", "--floor-rows", "2000"]
    try:
        run = subprocess.run(
            [*cmd, "--port", "0", "--workdir", str(work), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        stored = _count(postgres_server, "history_pg_smoke")
    finally:  # the bench's schema, named after its workdir
        run_sql(postgres_server, "DROP SCHEMA IF EXISTS history_pg_smoke CASCADE")
    result = json.loads(out.read_text())
    total = 2 * 31 * 24 * 4
    assert result["store"] == "postgresql"
    assert result["load"]["instances"] == result["load"]["total_instances"] == total
    assert stored == total
    for name, q in result["queries"].items():
        assert q["requests"] == 2 and q["values_per_answer"] > 0, name
    assert result["bytes"]["sizes"]["history_instances"] > 0
    assert result["postgres_floor"]["rows"] > 0 and result["postgres_floor"]["bytes_per_row"] > 0
    assert "PostgreSQL: load =" in run.stdout
