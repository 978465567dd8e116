"""Issue 22 item 1, "One GET freezes the whole hub": callers' regular expressions (idPattern,
``~=``/``!~=`` in q; in queries, subscriptions and registrations) run in linear time on both
backends, and the ones that cannot be honoured get a 400 naming the parameter.

Clauses: idPattern in EntitySelector/EntityInfo 5.2.33/5.2.8 and in the query parameters of
6.4.3.2, 6.8.3.2 and 6.18.3.2; the pattern operators of q in 4.9; an invalid query or payload is
BadRequestData (table 6.3.2-1).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
ENTITIES = "/ngsi-ld/v1/entities"
QUERY = "/ngsi-ld/v1/entityOperations/query"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
SUBS = "/ngsi-ld/v1/subscriptions"
REGS = "/ngsi-ld/v1/csourceRegistrations"
TEMPORAL = "/ngsi-ld/v1/temporal/entities"
AQO = "AirQualityObserved"


def _sub(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:rx",
        "type": "Subscription",
        "entities": [{"type": AQO}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    body.update(extra)
    return body


def _csr(entities: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:ContextSourceRegistration:rx",
        "type": "ContextSourceRegistration",
        "information": [{"entities": entities}],
        "endpoint": "http://cs.example.org:1026",
    }


# (method, path, query parameters, JSON body, the parameter the detail names, why)
REFUSED: list[tuple[str, str, dict[str, str] | None, Any, str, str]] = [
    ("GET", ENTITIES, {"type": AQO, "idPattern": "urn:(?=x)"}, None, "idPattern", "look-ahead"),
    ("GET", ENTITIES, {"type": AQO, "q": 'name~="(a+)\\1"'}, None, "q:", "backreference"),
    ("GET", ENTITIES, {"type": AQO, "q": "name!~=(?<!a)b"}, None, "q:", "look-behind"),
    ("GET", ENTITIES, {"type": AQO, "idPattern": "a" * 5000}, None, "idPattern", "longer than"),
    (
        "POST",
        QUERY,
        None,
        {"type": "Query", "entities": [{"type": AQO}, {"type": AQO, "idPattern": "(?!x)"}]},
        "entities[1].idPattern",
        "negative look-ahead",
    ),
    (
        "POST",
        QUERY,
        None,
        {"type": "Query", "entities": [{"type": AQO}], "q": 'name~="x\\Z"'},
        "q:",
        "write \\z for the end of the text",
    ),
    (
        "POST",
        SUBS,
        None,
        _sub(entities=[{"type": AQO, "idPattern": "(?<=a)b"}]),
        "entities[0].idPattern",
        "look-behind",
    ),
    ("POST", SUBS, None, _sub(q='name~="^(a+)\\1$"'), "q:", "backreference"),
    (
        "POST",
        REGS,
        None,
        _csr([{"type": AQO, "idPattern": "(?>a+)"}]),
        "information[0].entities[0].idPattern",
        "atomic group",
    ),
    ("GET", REGS, {"type": AQO, "idPattern": "a++"}, None, "idPattern", "possessive"),
    (
        "GET",
        TEMPORAL,
        {"type": AQO, "idPattern": "(?=a)", "timerel": "after", "timeAt": "2020-01-01T00:00:00Z"},
        None,
        "idPattern",
        "look-ahead",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "parameter", "why"),
    REFUSED,
    ids=[f"{r[0]} {r[1].rsplit('/', 1)[-1]} {r[4]} {r[5]}" for r in REFUSED],
)
def test_refused_pattern_is_a_400_naming_the_parameter(
    client: TestClient,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: Any,
    parameter: str,
    why: str,
) -> None:
    r = client.request(method, path, params=params, json=body)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["type"] == ERR + "BadRequestData"
    assert problem["status"] == 400
    assert parameter in problem["detail"] and why in problem["detail"], problem["detail"]
    assert "regular expression" in problem["detail"]
    if method == "POST" and path in (SUBS, REGS):  # nothing was stored
        assert client.get(f"{path}/{body['id']}").status_code == 404


def _put(client: TestClient, eid: str, name: str) -> None:
    body = {"id": eid, "type": AQO, "name": {"type": "Property", "value": name}}
    r = client.post(UPSERT, json=[body])
    assert r.status_code in (201, 204), r.text


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {e["id"].rsplit(":", 1)[-1] for e in response.json()}


def test_same_answers_on_both_backends(client: TestClient) -> None:
    """RE2's meaning on SQLite and (rewritten) on PostgreSQL alike."""
    for eid, name in [
        ("a1", "the foo bar"),
        ("b2", "afoob"),
        ("성남시-정자동-🚗", "정자동 주차장"),
        ("c3", "line\nbreak"),
        ("D4", "FOO"),
    ]:
        _put(client, f"urn:ngsi-ld:{AQO}:{eid}", name)

    def found(**params: str) -> set[str]:
        return _ids(client.get(ENTITIES, params={"type": AQO, **params}))

    assert found(idPattern="^urn:ngsi-ld:AirQualityObserved:[a-z]\\d$") == {"a1", "b2", "c3"}
    assert found(idPattern="(?i):d\\d$") == {"D4"}
    assert found(idPattern=":\\x{C131}\\x{B0A8}") == {"성남시-정자동-🚗"}
    assert found(idPattern="🚗\\z") == {"성남시-정자동-🚗"}
    assert found(idPattern="(?P<digit>\\d)$") == {"a1", "b2", "c3", "D4"}
    assert found(q='name~="\\bfoo\\b"') == {"a1"}
    assert found(q='name~="(?i)\\bfoo\\b"') == {"a1", "D4"}
    assert found(q="name~=e.b") == set()  # "." is not a newline
    assert found(q='name~="(?s)e.b"') == {"c3"}
    assert found(q='name~="(?m)^break$"') == {"c3"}
    assert found(q='name!~="o"') == {"성남시-정자동-🚗", "c3", "D4"}
    assert found(q='name~="^\\w+\\s"') == {"a1", "c3"}  # \w is ASCII: not 정자동
    assert found(q='name~="^(.+)+X$"') == set()
    r = client.post(
        QUERY, json={"type": "Query", "entities": [{"type": AQO, "idPattern": "[0-9]$"}]}
    )
    assert _ids(r) == {"a1", "b2", "c3", "D4"}


def test_unicode_classes(client: TestClient, store_url: str) -> None:
    """\\p{...} is RE2 syntax PostgreSQL has no counterpart for: SQLite answers, PostgreSQL
    refuses with a 400 that says so (use \\x{AC00}-\\x{D7A3} for Hangul syllables)."""
    _put(client, f"urn:ngsi-ld:{AQO}:정자동", "x")
    r = client.get(ENTITIES, params={"type": AQO, "idPattern": ":\\p{Hangul}+$"})
    if store_url.startswith("sqlite"):
        assert _ids(r) == {"정자동"}
    else:
        assert r.status_code == 400 and "PostgreSQL cannot run" in r.json()["detail"], r.text
    r = client.get(ENTITIES, params={"type": AQO, "idPattern": ":[\\x{AC00}-\\x{D7A3}]+$"})
    assert _ids(r) == {"정자동"}


# -- the reproductions of the issue, against a real server ----------------------------------------


def _ephemeral_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """``cityhub serve`` in a child process (a stuck event loop cannot hold up the test)."""

    def __init__(self, store: str, tmp_path: Path) -> None:
        self.port = _ephemeral_port()  # not a small shared range: other runs may be in it
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        command = [sys.executable, "-m", "cityhub", "serve", "--store", store]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdout=out,
                stderr=out,
                cwd=tmp_path,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the hub did not start: " + self.log.read_text()
            time.sleep(0.05)  # a child process: nothing to await but its port

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # the frozen hub of the issue ignores SIGTERM
                self.proc.kill()
                self.proc.wait(timeout=15)


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[_Server]:
    s = _Server(store_url, tmp_path)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


#: every request must answer within this; a backtracking engine needs years for these patterns
BOUND = 30.0
N = 300
NAME = "a" * 40 + "!"  # almost matches ^(a+)+$: the worst case for backtracking


def test_hostile_patterns_do_not_freeze_the_hub(server: _Server) -> None:
    """The reproductions: ``idPattern=^(.+)+X$`` and ``q=name~="^(a+)+$"`` over many entities
    answer promptly while /health and a plain retrieve answer alongside; after a subscription
    with such a q, writes to that type answer promptly too."""

    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=BOUND) as http:
            batch = [
                {
                    "id": f"urn:ngsi-ld:{AQO}:seongnam:41135:{n:04d}-" + "x" * 40,
                    "type": AQO,
                    "name": {"type": "Property", "value": NAME},
                }
                for n in range(N)
            ]
            r = await http.post(UPSERT, json=batch)
            assert r.status_code in (201, 204), r.text
            one = f"{ENTITIES}/{batch[0]['id']}"
            hostile = [
                {"type": AQO, "idPattern": "^(.+)+X$", "limit": "1000", "count": "true"},
                {"type": AQO, "q": 'name~="^(a+)+$"', "limit": "1000", "count": "true"},
                {"type": AQO, "q": "name!~=^(a|a)*$", "limit": "1", "count": "true"},
                {"idPattern": "^(a|aa)+$", "q": "name", "limit": "1000"},
            ]
            answers = await asyncio.gather(
                *(http.get(ENTITIES, params=p) for p in hostile),
                http.get("/health"),
                http.get(one),
                http.post(
                    QUERY,
                    json={"type": "Query", "entities": [{"type": AQO, "idPattern": "^(.+)+X$"}]},
                ),
            )
            for answer in answers:
                assert answer.status_code == 200, answer.text
            assert [len(a.json()) for a in answers[:4]] == [0, 0, 1, 0]
            assert answers[0].headers["NGSILD-Results-Count"] == "0"
            assert answers[2].headers["NGSILD-Results-Count"] == str(N)
            assert answers[5].json()["id"] == batch[0]["id"]

            # the subscription of the issue: accepted (RE2 runs it), and writes stay prompt
            sub = _sub(
                entities=[{"type": AQO, "idPattern": "^(.+)+X$"}, {"type": AQO}],
                q='name~="^(a+)+$"',
            )
            r = await http.post(SUBS, json=sub)
            assert r.status_code == 201, r.text
            writes = [
                http.patch(f"{ENTITIES}/{e['id']}/attrs", json={"name": NAME + str(i)})
                for i, e in enumerate(batch[:20])
            ]
            answers = await asyncio.gather(*writes, http.get("/health"))
            assert [a.status_code for a in answers] == [204] * 20 + [200], [a.text for a in answers]

    try:
        asyncio.run(main())
    except Exception as exc:  # say what the hub said
        raise AssertionError(f"{exc!r}; the hub's log:\n{server.log.read_text()[-3000:]}") from exc
