"""What the layer in front of the routes costs a retrieve-by-id, in-process (no server, no HTTP
parser): the app called as ASGI, ``GET /ngsi-ld/v1/entities/{id}`` on a store of 1,000
entities, rounds of 5,000 calls each (the fastest round and the median).

Configurations, in one run so that their ratio is what to quote:

- ``cors off``: the default (no CORS layer at all);
- ``cors on, no Origin``: ``cors_origins`` set, a request without ``Origin`` (curl, a server);
- ``cors on, Origin``: a browser's request from a listed origin.

Run it on two commits to compare versions (``PYTHONPATH`` picks the code); a version without
the ``cors_origins`` setting measures ``cors off`` only::

    python3 bench/front_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from asgi_call import call, scope

from cityhub.app import create_app
from cityhub.settings import Settings

ENTITIES = 1000
CALLS = 5000
ROUNDS = 11
ORIGIN = b"https://app.city.example"


async def _prepared(settings: Settings) -> Any:
    app = create_app(settings)
    create = scope(
        "POST", "/ngsi-ld/v1/entityOperations/upsert", b"", [(b"content-type", b"application/json")]
    )
    batch = [
        {"id": f"urn:ngsi-ld:Bench:{i}", "type": "Bench", "n": {"type": "Property", "value": i}}
        for i in range(ENTITIES)
    ]
    return app, create, orjson.dumps(batch)


async def _round(app: Any, headers: list[tuple[bytes, bytes]], r: int) -> float:
    scopes = [
        scope(
            "GET",
            f"/ngsi-ld/v1/entities/urn:ngsi-ld:Bench:{(r * CALLS + i) % ENTITIES}",
            b"",
            headers,
        )
        for i in range(CALLS)
    ]
    start = time.process_time()  # CPU time: steadier than wall time on a shared machine
    for request in scopes:
        await call(app, request)
    elapsed = (time.process_time() - start) / CALLS * 1e6
    assert (await call(app, scopes[0]))[0] == 200
    return elapsed


async def _measure(
    runs: list[tuple[str, Settings, list[tuple[bytes, bytes]]]],
) -> dict[str, list[float]]:
    """Microseconds per retrieve, per round, the configurations' rounds interleaved (a busy
    machine then slows them alike)."""
    async with contextlib.AsyncExitStack() as stack:
        apps = []
        for _name, settings, _headers in runs:
            app, create, body = await _prepared(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            assert (await call(app, create, body))[0] in (201, 204)
            apps.append(app)
        times: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        for r in range(ROUNDS):
            for (name, _settings, headers), app in zip(runs, apps, strict=True):
                times[name].append(await _round(app, headers, r))
    return times


def main() -> None:
    global ROUNDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    ROUNDS = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:

        def store(name: str) -> Settings:
            return Settings(store=f"sqlite:///{Path(tmp) / name}.db", history=False)

        runs: list[tuple[str, Settings, list[tuple[bytes, bytes]]]] = [("cors off", store("a"), [])]
        if "cors_origins" in {f.name for f in dataclasses.fields(Settings)}:
            origins = ORIGIN.decode()
            runs += [
                ("cors on, no Origin", dataclasses.replace(store("b"), cors_origins=origins), []),
                (
                    "cors on, Origin",
                    dataclasses.replace(store("c"), cors_origins=origins),
                    [(b"origin", ORIGIN)],
                ),
            ]
        times = asyncio.run(_measure(runs))
    off = min(times["cors off"])
    print(f"retrieve in-process, CPU time, {ROUNDS} rounds x {CALLS} calls, interleaved")
    print(f"  {'':20} {'min us':>7} {'median':>7}  min / cors off")
    for name, us in times.items():
        print(f"  {name:20} {min(us):7.1f} {statistics.median(us):7.1f}  {min(us) / off:5.2f}")


if __name__ == "__main__":
    main()
