"""What access control costs a retrieve-by-id and a query, in-process (the app called as ASGI,
no server, no HTTP parser), as ratios to the same requests with access control off, in one
run (issue 20 "Speed"): rounds of calls on a store of 1,000 entities, the configurations'
rounds interleaved, the CPU time of the event loop's thread (the fastest round and the
median): the thread that runs access control; the store's reader threads (a retrieve's
registration lookup for federation, the same with access control on or off) are left out.

Configurations:

- ``off``: nothing configured (no key, no issuer): the guard reads a clock per request;
- ``key``: an administrator's API key (every entity): the access version is read per request
  (one row) and the key looked up among those already verified;
- ``key, cache 1 s``: the same with ``access_cache_seconds = 1`` (the version read at most once
  a second);
- ``key, narrowed``: a key that may read one type: retrieve-by-id adds a lookup by id whose
  entity is judged against the caller's targets, a query carries the ``permitted`` condition;
- ``jwt``: a bearer JWT (RS256) of a configured issuer, its subject granted read.

And the cost of permission filtering on a query over ``--filter-entities`` entities (default
100,000; 10,000 for a quick run) where the caller may see 10%: the same page and count with
and without the ``permitted`` condition.

    python3 bench/access_bench.py [--rounds 7] [--filter-entities 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
import orjson
from asgi_call import call, scope
from cryptography.hazmat.primitives.asymmetric import rsa

from cityhub.access.tokens import TokenVerifier
from cityhub.app import create_app
from cityhub.settings import Settings

ENTITIES = 1000
CALLS = 2000
ROUNDS = 7
ISSUER = "https://id.bench.example/realms/city"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def _entities(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": f"urn:ngsi-ld:Bench:{i}",
            "type": "Bench" if i % 10 else "Seen",
            "n": {"type": "Property", "value": i},
        }
        for i in range(start, start + n)
    ]


async def _load(app: Any, n: int, headers: list[tuple[bytes, bytes]]) -> None:
    upsert = scope(
        "POST", "/ngsi-ld/v1/entityOperations/upsert", b"", [(b"content-type", b"application/json")]
    )
    upsert["headers"] += headers
    for start in range(0, n, 1000):
        body = orjson.dumps(_entities(min(1000, n - start), start))
        assert (await call(app, upsert, body))[0] in (201, 204)


class _Issuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = orjson.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]})

    async def fetch(self, url: str) -> bytes:
        return self.jwks

    def token(self) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "bench", "iat": now, "exp": now + 3600}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})


async def _configure(app: Any, kind: str, issuer: _Issuer) -> list[tuple[bytes, bytes]]:
    """The headers a caller of this configuration sends (after making its key/permission)."""
    control = app.state.access
    if kind == "off":
        return []
    admin, _ = await control.create_key("", "ops", admin=True)
    if kind in ("key", "key, cache 1 s"):
        return [(b"authorization", f"Bearer {admin}".encode())]
    if kind == "key, narrowed":
        text, record = await control.create_key("", "reader")
        await control.add_permission(
            "",
            {"action": "read", "target": {"type": "Seen"}, "assignee": {"key": record.key_id}},
        )
        return [(b"authorization", f"Bearer {text}".encode())]
    control.verifier = TokenVerifier(fetch=issuer.fetch)
    await control.add_permission("", {"action": "read", "assignee": {"subject": "bench"}})
    return [(b"authorization", f"Bearer {issuer.token()}".encode())]


async def _round(app: Any, headers: list[tuple[bytes, bytes]], r: int, what: str) -> float:
    if what == "retrieve":
        # ids that are multiples of 10: of type Seen, readable by the narrowed key too
        scopes = [
            scope(
                "GET",
                f"/ngsi-ld/v1/entities/urn:ngsi-ld:Bench:{((r * CALLS + i) * 10) % ENTITIES}",
                b"",
                headers,
            )
            for i in range(CALLS)
        ]
    else:
        scopes = [
            scope("GET", "/ngsi-ld/v1/entities", b"type=Seen&limit=10&count=true", headers)
            for _ in range(CALLS // 4)
        ]
    start = time.thread_time()
    for request in scopes:
        await call(app, request)
    elapsed = (time.thread_time() - start) / len(scopes) * 1e6
    assert (await call(app, scopes[0]))[0] == 200
    return elapsed


async def _measure(tmp: Path, rounds: int) -> dict[str, dict[str, list[float]]]:
    issuer = _Issuer()
    kinds = ["off", "key", "key, cache 1 s", "key, narrowed", "jwt"]
    async with contextlib.AsyncExitStack() as stack:
        apps: dict[str, tuple[Any, list[tuple[bytes, bytes]]]] = {}
        for i, kind in enumerate(kinds):
            settings = Settings(store=f"sqlite:///{tmp / f'{i}.db'}", history=False)
            if kind == "key, cache 1 s":
                settings = Settings(store=settings.store, history=False, access_cache_seconds=1.0)
            if kind == "jwt":
                settings = Settings(
                    store=settings.store, history=False, oidc_issuer=ISSUER, oidc_jwks_url="x"
                )
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            headers = await _configure(app, kind, issuer)
            if kind in ("off", "key", "key, cache 1 s"):
                admin = headers
            else:  # the caller may not write: an administrator loads the entities
                admin = await _configure(app, "key", issuer)
            await _load(app, ENTITIES, admin)
            apps[kind] = (app, headers)
        times: dict[str, dict[str, list[float]]] = {
            what: {k: [] for k in kinds} for what in ("retrieve", "query")
        }
        for r in range(rounds):
            for what in ("retrieve", "query"):
                for kind in kinds:
                    app, headers = apps[kind]
                    times[what][kind].append(await _round(app, headers, r, what))
    return times


async def _filtering(tmp: Path, n: int, rounds: int) -> dict[str, list[float]]:
    """A query over ``n`` entities (10% of type Seen) by a caller narrowed to Seen, against an
    administrator asking the same with ``type=Seen`` (what the condition must cost at most)."""
    issuer = _Issuer()
    app = create_app(Settings(store=f"sqlite:///{tmp / 'filter.db'}", history=False))
    async with app.router.lifespan_context(app):
        admin = await _configure(app, "key", issuer)
        narrow = await _configure(app, "key, narrowed", issuer)
        await _load(app, n, admin)
        cases = {
            "admin, type=Bench,Seen": (admin, b"type=Bench,Seen&limit=20&count=true"),
            "narrowed, type=Bench,Seen": (narrow, b"type=Bench,Seen&limit=20&count=true"),
            "admin, type=Seen": (admin, b"type=Seen&limit=20&count=true"),
        }
        out: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, (headers, query) in cases.items():
                request = scope("GET", "/ngsi-ld/v1/entities", query, headers)
                start = time.perf_counter()
                for _ in range(5):
                    assert (await call(app, request))[0] == 200
                out[name].append((time.perf_counter() - start) / 5 * 1e3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--filter-entities", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = asyncio.run(_measure(Path(tmp), args.rounds))
        filtering = asyncio.run(_filtering(Path(tmp), args.filter_entities, args.rounds))
    print(
        f"in-process, event loop thread's CPU time, {args.rounds} rounds, interleaved "
        f"({ENTITIES} entities)"
    )
    for what, by_kind in times.items():
        off = min(by_kind["off"])
        print(f"  {what:8} {'':14} {'min us':>7} {'median':>7}  off/this (>= 0.95 wanted)")
        for kind, us in by_kind.items():
            best, median = min(us), statistics.median(us)
            print(f"  {'':8} {kind:14} {best:7.1f} {median:7.1f}  {off / best:5.2f}")
    print(f"query over {args.filter_entities} entities, 10% readable, wall ms (min, median)")
    for name, ms in filtering.items():
        print(f"  {name:28} {min(ms):8.2f} {statistics.median(ms):8.2f}")


if __name__ == "__main__":
    main()
