"""Write ``<release>.json`` next to this file: a small hub's PostgreSQL tables as cityhub at
commit <release> wrote them, and what that release answered on them.
``tests/postgres/test_history_upgrade.py`` loads the tables into a schema at that release's
version, opens it with today's code, which migrates it, and asks the same; then makes the same
changes as the release made afterwards and compares again. Two releases are kept: 11366c6
(version 12, the last with PostgreSQL's history in one ``attribute_instances`` table, before
migration 0013 put it in series) and 1b3800f (version 19, the last with one unpartitioned
``history_instances`` table, before migration 0020 partitioned it by month).

The history and the questions are SQLite's upgrade fixture's (``tests/store/history_db/make.py``:
through the HTTP API only, integers, decimals, booleans, text, objects, datasetIds, instances
without observedAt, observedAt with and without fraction and with an offset, entity API updates
and deletions, an instance modified and one deleted, a second tenant). Run it with that release
on the path and a PostgreSQL with PostGIS (the fixture is committed; run again only to rebuild
it, and only from that commit)::

    mkdir /tmp/old && git archive 11366c6 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python3 <this file> postgresql://postgres@127.0.0.1:5432/postgres 11366c6
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA = "cityhub_history_fixture"


async def dump_tables(url: str, schema: str) -> dict[str, str]:
    """Every table of ``schema`` that holds rows, in COPY's text format, by name."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        names = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema
            )
        ]
        out: dict[str, str] = {}
        for name in names:
            buffer = io.BytesIO()
            await conn.copy_from_table(name, schema_name=schema, output=buffer, format="text")
            if buffer.getvalue():
                out[name] = buffer.getvalue().decode()
        return out
    finally:
        await conn.close()


def main() -> None:
    from starlette.testclient import TestClient

    from cityhub.app import create_app
    from cityhub.settings import Settings
    from tests.postgres.server import run, with_search_path
    from tests.store.history_db.make import (
        AFTER,
        REQUESTS,
        answer,
        changes,
        populate,
        recorded_instance,
    )

    base, release = sys.argv[1], sys.argv[2]
    fixture = HERE / f"{release}.json"
    run(base, f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE', f'CREATE SCHEMA "{SCHEMA}"')
    url = with_search_path(base, SCHEMA)
    settings = Settings(store=url, airquality_service=False, indicators_service=False)
    with TestClient(create_app(settings)) as c:
        populate(c)
        answers = [answer(c, p, h) for p, h in REQUESTS]
        recorded_id = recorded_instance(c)
    tables = asyncio.run(dump_tables(base, SCHEMA))
    with TestClient(create_app(settings)) as c:
        changes(c, recorded_id)
        after = [answer(c, p, h) for p, h in AFTER]
    run(base, f'DROP SCHEMA "{SCHEMA}" CASCADE')
    doc: dict[str, Any] = {
        "release": release,
        "tables": tables,
        "answers": answers,
        "recorded_id": recorded_id,
        "after": after,
    }
    fixture.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{fixture.name}: {fixture.stat().st_size} bytes, {len(answers)} + {len(after)} answers")


if __name__ == "__main__":
    main()
