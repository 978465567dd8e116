"""The standing guard of issue 22: nothing a caller sends can freeze, crash or mislead the hub.

Property-based, over the real HTTP stack: ``cityhub serve`` runs in a process of its own
(tests/hostile/hub_process.py says why not in-process), on SQLite and on PostgreSQL, and an
httpx client sends it entities with hostile ids, attribute names, values and geometries, and
queries with hostile parameters (tests/hostile/strategies.py). For every request:

- no 5xx, ever (a caller's input is never the hub's failure), but for the one the spec gives
  a caller: 503 LdContextNotAvailable for a remote @context the request names and the hub
  cannot retrieve (an odd string as ``@context``; the tests have no network);
- every error is a ProblemDetails (RFC 9457, ETSI GS CIM 009 clause 6.3.2 and table 6.3.2-1):
  a JSON object with ``type``, ``title``, ``status`` (the response's) and a ``detail``;
- an answer within :data:`ANSWER_BOUND` seconds (a healthy hub answers these in milliseconds;
  the bound leaves room for a loaded CI machine, and a hub whose event loop is stuck never
  answers: issue 22's ``idPattern=^(.+)+X$`` took the demo hub down for good);

and afterwards the same hub process, never restarted, still answers ``/health``, has logged
no traceback, and exits cleanly on SIGTERM.

Reproducible: ``derandomize=True`` and no example database; no shrinking (each failure message
names the one request that failed, and shrinking a request that hangs would cost a restart
and ANSWER_BOUND per attempt).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.hostile.hub_process import HubProcess
from tests.hostile.strategies import (
    CORE_CONTEXT,
    SEED_IDS,
    attribute_names,
    attributes,
    entities,
    geometries,
    inline_contexts,
    nested,
    notification_params,
    q_texts,
    query_strings,
    regexes,
    subscription_extras,
    type_names,
)
from tests.postgres import server as pg

ANSWER_BOUND = 15.0
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
LD_CONTEXT = '"http://www.w3.org/ns/json-ld#context"'
API = "/ngsi-ld/v1"
#: a notification endpoint on a port nothing listens on (fuzzed subscriptions must not reach out)
NOWHERE = "http://127.0.0.1:9/notify"


def fuzz(examples: int) -> settings:
    """Reproducible (the same examples every run), bounded, no shrinking (module docstring).
    The counts below keep the module near 30 s per backend on a 2-core CI machine."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclass
class Caller:
    """An httpx client of one hub that checks every answer (see the module's docstring)."""

    hub: HubProcess
    client: httpx.Client
    requests: int = 0
    hangs: list[str] = field(default_factory=list)

    def send(self, method: str, url: str, *, body: Any = None, **headers: str) -> httpx.Response:
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        what = f"{method} {url}" + (f" with body {content[:300]!r}" if content else "")
        self.requests += 1
        try:
            r = self.client.request(method, url, content=content, headers=headers)
        except httpx.TimeoutException:
            self.hangs.append(what)
            self.hub.restart()  # the next examples need a hub that answers
            raise AssertionError(f"no answer within {ANSWER_BOUND} s to {what}") from None
        except httpx.TransportError as exc:
            raise AssertionError(
                f"the hub answered nothing ({exc!r}) to {what}; its log:\n{self.hub.log_tail()}"
            ) from None
        check_answer(r, what, self.hub)
        return r


def check_answer(r: httpx.Response, what: str, hub: HubProcess) -> None:
    """No 5xx; an error is a ProblemDetails (a HEAD answer's body is left out, RFC 9110 9.3.2).

    The one 5xx a caller can cause is the spec's: 503 LdContextNotAvailable when the request
    names a remote @context the hub cannot retrieve (the tests have no network; a URN cannot be
    retrieved anywhere). A 5xx without a @context in the request fails."""
    if r.status_code < 400:
        return
    media = r.headers.get("content-type", "").split(";")[0]
    assert media in ("application/json", "application/problem+json"), (
        f"{r.status_code} as {media!r}, not a ProblemDetails, to {what}: {r.text[:300]}"
        f"\n{hub.log_tail(30)}"
    )
    if r.request.method == "HEAD":
        assert r.status_code < 500, f"{r.status_code} to {what}\n{hub.log_tail(30)}"
        return
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"{r.status_code} {r.text[:300]!r} is not JSON, to {what}") from None
    assert isinstance(body, dict), f"{r.status_code} {r.text[:300]} to {what}"
    if r.status_code >= 500:
        names_context = b"@context" in r.request.content or "link" in r.request.headers
        assert names_context and body.get("type") == f"{ERRORS}LdContextNotAvailable", (
            f"{r.status_code} {r.text[:500]} to {what}\n{hub.log_tail(30)}"
        )
    assert isinstance(body.get("type"), str) and body["type"], f"no type: {body} to {what}"
    assert isinstance(body.get("title"), str) and body["title"], f"no title: {body} to {what}"
    assert body.get("status") == r.status_code, f"status {body.get('status')}: {what}"
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), f"{body} to {what}"


def _seed(caller: Caller) -> None:
    """Entities, history and a subscription for the queries to find (the fuzz writes more)."""
    for n, eid in enumerate(SEED_IDS):
        entity = {
            "id": eid,
            "type": "Sensor",
            "n": {"type": "Property", "value": n, "observedAt": "2026-11-01T09:00:00Z"},
            "s": {"type": "Property", "value": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"},
            "name": {"type": "LanguageProperty", "languageMap": {"ko": "정자동", "en": "Jeongja"}},
            "rel": {"type": "Relationship", "object": SEED_IDS[0]},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.1 + n / 100, 37.36]},
            },
        }
        assert caller.send("POST", f"{API}/entities", body=entity).status_code == 201
        for hour in range(3):
            at = f"2026-11-01T1{hour}:00:00Z"
            change = {"n": {"type": "Property", "value": n * 10 + hour, "observedAt": at}}
            assert caller.send("PATCH", f"{API}/entities/{eid}/attrs", body=change).is_success
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "Sensor"}],
        "q": "n>1",
        "notification": {"endpoint": {"uri": NOWHERE}},
    }
    assert caller.send("POST", f"{API}/subscriptions", body=subscription).status_code == 201


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def caller(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Caller]:
    """One hub per backend for the whole module, like tests/conftest.py's ``store_url`` (a fresh
    SQLite file, or a fresh schema of the throwaway PostgreSQL, skipped with the reason when
    none can be had), but shared by the module's tests: the last one checks the hub survived."""
    workdir = tmp_path_factory.mktemp("hostile")
    if request.param == "sqlite":
        yield from _serve(f"sqlite:///{workdir / 'fuzz.db'}", workdir)
        return
    base = request.getfixturevalue("postgres_server")
    schema = f"cityhub_fuzz_{os.getpid()}_{workdir.name.replace('-', '_')}"
    with pg.throwaway_schema(base, schema) as url:
        yield from _serve(url, workdir)


def _serve(store: str, workdir: Path) -> Iterator[Caller]:
    hub = HubProcess(store, workdir)
    hub.start()
    try:
        with httpx.Client(base_url=hub.base_url, timeout=ANSWER_BOUND) as client:
            caller = Caller(hub, client)
            _seed(caller)
            yield caller
    finally:
        hub.stop()


def _path_id(eid: str, raw: bool) -> str:
    """An id as a path segment: percent-encoded as a client should, or nearly raw."""
    return quote(eid, safe=":" if raw else "")


@fuzz(30)
@given(
    entity=entities,
    change=st.dictionaries(attribute_names, attributes, max_size=3),
    name=attribute_names,
    context=st.none() | inline_contexts,
)
@example(
    entity={"id": "urn:ngsi-ld:T2:성남시-정자동-🚗", "type": "T2", "n": 1},
    change={"n": 2},
    name="n",
    context=None,
).via("issue 22 item 2: a Korean id")
@example(entity={"id": "urn:ngsi-ld:T:a\x00b", "type": "T"}, change={}, name="n", context=None).via(
    "issue 22 item 2: a NUL in an id"
)
@example(
    entity={"id": "urn:ngsi-ld:T:deep", "type": "T", "v": {"type": "Property", "value": 0}},
    change={"v": {"type": "Property", "value": nested(300)}},
    name="v",
    context=None,
).via("issue 22 item 3: 300 levels of nesting")
def test_entity_writes_and_reads(
    caller: Caller, entity: dict[str, Any], change: Any, name: str, context: Any
) -> None:
    """Create (directly and by batch), retrieve by id and through its Location, update, merge,
    replace and delete an entity and its attributes, all made of hostile parts; its history."""
    headers = {}
    if context is not None:
        entity = {**entity, "@context": context}
        headers["content-type"] = "application/ld+json"
    created = caller.send("POST", f"{API}/entities", body=entity, **headers)
    eid = entity.get("id")
    if created.status_code == 201 and "location" in created.headers:
        caller.send("GET", created.headers["location"])
    batch = [entity, {"id": eid, "type": entity.get("type"), **change}]
    for operation in ("create", "upsert", "update", "merge"):
        caller.send("POST", f"{API}/entityOperations/{operation}", body=batch, **headers)
    if not isinstance(eid, str) or not eid:
        return
    for raw in (False, True):
        caller.send("GET", f"{API}/entities/{_path_id(eid, raw)}")
    path = f"{API}/entities/{_path_id(eid, False)}"
    attr = f"{path}/attrs/{quote(name, safe='')}"
    caller.send("PATCH", f"{path}/attrs", body=change)
    caller.send("PATCH", path, body=change, **{"content-type": "application/merge-patch+json"})
    caller.send("PUT", attr, body=change.get(name, change))
    caller.send("PATCH", attr, body=change.get(name, change))
    caller.send("POST", f"{API}/temporal/entities/{_path_id(eid, False)}/attrs", body=change)
    caller.send("GET", f"{API}/temporal/entities/{_path_id(eid, False)}?lastN=2")
    caller.send("GET", f"{path}?options=keyValues&attrs={quote(name, safe='')}")
    caller.send("DELETE", f"{attr}?deleteAll=true")
    caller.send("DELETE", path)
    caller.send("POST", f"{API}/entityOperations/delete", body=[eid])


_QUERY_PATHS = [
    f"{API}/entities",
    f"{API}/temporal/entities",
    f"{API}/entities/{quote(SEED_IDS[0], safe='')}",
    f"{API}/temporal/entities/{quote(SEED_IDS[1], safe='')}",
    f"{API}/types",
    f"{API}/attributes",
    f"{API}/subscriptions",
    f"{API}/csourceRegistrations",
]
_ACCEPTS = ["application/json", "application/ld+json", "application/geo+json", "text/csv", "*/*"]


@fuzz(100)
@given(
    path=st.sampled_from(_QUERY_PATHS),
    query=query_strings(),
    accept=st.sampled_from(_ACCEPTS),
    tenant=st.sampled_from([None, None, None, "city1", "", "bad tenant!", "성남"]),
)
@example(
    path=_QUERY_PATHS[0],
    query="type=Sensor&idPattern=%5E%28.%2B%29%2BX%24",
    accept="*/*",
    tenant=None,
)
@example(path=_QUERY_PATHS[0], query="type=%ZZ&limit=%EF%BC%91", accept="*/*", tenant=None)
@example(
    path=_QUERY_PATHS[0], query="type=Sensor&attrs=s", accept="application/geo+json", tenant=None
)
@example(
    path=_QUERY_PATHS[1], query="type=Sensor&timerel=after&timeAt=2026", accept="*/*", tenant=None
)
def test_queries(caller: Caller, path: str, query: str, accept: str, tenant: str | None) -> None:
    """GET a query or retrieval URL with hostile parameters."""
    headers = {"accept": accept}
    if tenant is not None:
        headers["NGSILD-Tenant"] = quote(tenant, safe="")
    caller.send("GET", f"{path}?{query}" if query else path, **headers)


@fuzz(30)
@given(
    kind=st.sampled_from(["Sensor", "T"]) | type_names,
    id_pattern=st.none() | regexes,
    q=st.none() | q_texts,
    geometry=st.none() | geometries,
    georel=st.sampled_from(["near;maxDistance==5000", "within", "intersects", "bogus"]),
    extras=subscription_extras,
    notification=notification_params,
)
@example(
    kind="Sensor",
    id_pattern=None,
    q='s~="^(a+)+$"',
    geometry=None,
    georel="within",
    extras={},
    notification={},
).via("issue 22 item 1: a catastrophic regex in a subscription's q, then a write")
def test_query_and_subscription_bodies(
    caller: Caller,
    kind: str,
    id_pattern: str | None,
    q: str | None,
    geometry: Any,
    georel: str,
    extras: dict[str, Any],
    notification: dict[str, Any],
) -> None:
    """The same query parts in JSON bodies: a batch query, a subscription with hostile
    notification parameters (then a write that it must be matched against, and a notification
    rendered for it), its update, a subscription to registrations, a registration."""
    selector: dict[str, Any] = {"type": kind}
    if id_pattern is not None:
        selector["idPattern"] = id_pattern
    query: dict[str, Any] = {"type": "Query", "entities": [selector]}
    if q is not None:
        query["q"] = q
    if geometry is not None:
        query["geoQ"] = {"georel": georel, **_geo(geometry)}
    caller.send("POST", f"{API}/entityOperations/query", body=query)
    subscription = {
        **{k: v for k, v in query.items() if k != "type"},
        **extras,
        "type": "Subscription",
        "notification": {**notification, "endpoint": {"uri": NOWHERE}},
    }
    made = caller.send("POST", f"{API}/subscriptions", body=subscription)
    change = {"s": {"type": "Property", "value": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}}
    caller.send("PATCH", f"{API}/entities/{quote(SEED_IDS[2], safe='')}/attrs", body=change)
    if made.status_code == 201:
        caller.send("PATCH", made.headers["location"], body={**extras, "q": q})
        caller.send("DELETE", made.headers["location"])
    subscription["type"] = "Subscription"
    made = caller.send("POST", f"{API}/csourceSubscriptions", body=subscription)
    if made.status_code == 201:
        caller.send("DELETE", made.headers["location"])
    registration = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [selector]}],
        "endpoint": NOWHERE,
    }
    made = caller.send("POST", f"{API}/csourceRegistrations", body=registration)
    if made.status_code == 201:
        caller.send("DELETE", made.headers["location"])


def _geo(geometry: Any) -> dict[str, Any]:
    if isinstance(geometry, dict) and "type" in geometry:
        return {"geometry": geometry.get("type"), "coordinates": geometry.get("coordinates")}
    return {"geometry": "Point", "coordinates": geometry}


@fuzz(60)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    path=st.sampled_from(
        ["", "/", "/health", API, f"{API}/", f"{API}/entities", f"{API}/entities/", f"{API}/x"]
        + [f"{API}/entities/%ZZ", f"{API}/entities/%00", f"{API}/entities/a%2Fb/attrs/%E0"]
        + [f"{API}/types/%", f"{API}/entities/{'%EA%B0%80' * 700}", "/..%2F..%2Fetc%2Fpasswd"]
    ),
    body=st.none() | st.binary(max_size=64) | st.builds(json.dumps, entities).map(str.encode),
    content_type=st.sampled_from(
        ["application/json", "application/ld+json", "text/plain", "application/json; charset=x"]
    ),
    link=st.sampled_from(
        [None, "garbage", f"<{CORE_CONTEXT}>; rel={LD_CONTEXT}", f"<>; rel={LD_CONTEXT}"]
    ),
)
def test_odd_methods_paths_and_bodies(
    caller: Caller, method: str, path: str, body: bytes | None, content_type: str, link: str | None
) -> None:
    """Any method on odd paths, with raw bytes, entities or nothing as the body."""
    headers = {"content-type": content_type}
    if link is not None:
        headers["link"] = link
    caller.send(method, path or "/", body=body, **headers)


def test_a_url_over_64_kb(caller: Caller) -> None:
    """Issue 22 item 7: a URL over 64 KB. httpx refuses to send one, so http.client does."""
    url = f"{API}/entities?type=Sensor&q={'x' * 70_000}"
    conn = http.client.HTTPConnection("127.0.0.1", caller.hub.port, timeout=ANSWER_BOUND)
    try:
        conn.request("GET", url)
        raw = conn.getresponse()
        answer = httpx.Response(
            raw.status,
            headers=raw.getheaders(),
            content=raw.read(),
            request=httpx.Request("GET", caller.hub.base_url),
        )
    except TimeoutError:
        raise AssertionError(f"no answer within {ANSWER_BOUND} s to a 70 KB URL") from None
    finally:
        conn.close()
    caller.requests += 1
    check_answer(answer, f"GET {url[:80]}... (70 KB)", caller.hub)


def test_the_hub_is_still_up_afterwards(caller: Caller) -> None:
    """Runs after the fuzz tests above, on the same hub process: it never stopped answering,
    answers /health, a write and a read now, logged no traceback (nothing failed behind the
    scenes either, such as a notification that could not be rendered), and stops cleanly on
    SIGTERM."""
    assert not caller.hangs, f"the hub stopped answering ({len(caller.hangs)}): {caller.hangs}"
    assert caller.hub.restarts == 0 and caller.hub.alive(), caller.hub.log_tail()
    assert caller.requests > 500  # the fuzz really ran on this hub
    r = caller.client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    after = {
        "id": "urn:ngsi-ld:Sensor:after",
        "type": "Sensor",
        "n": {"type": "Property", "value": 1},
    }
    assert caller.client.post(f"{API}/entities", json=after).status_code == 201
    r = caller.client.get(f"{API}/entities/{after['id']}")  # (the fuzz may delete seeds)
    assert r.status_code == 200 and r.json()["n"]["value"] == 1, r.text
    log = caller.hub.log()
    assert "Traceback" not in log, log[max(0, log.index("Traceback") - 300) :][:4000]
    code = caller.hub.stop()  # uvicorn shuts down, then exits by the signal it was sent
    assert code in (0, -signal.SIGTERM), f"exit {code}: {caller.hub.log_tail()}"
    assert "Application shutdown complete" in caller.hub.log_tail(5), caller.hub.log_tail()
