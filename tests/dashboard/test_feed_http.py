"""The live feed over real HTTP (``cityhub serve`` in a child process): a write's change
arrives as an event, a stopping hub ends the stream instead of waiting for it forever, and the
restarted hub takes the screen back, on both backends; with ``--workers 2`` on PostgreSQL, a
write served by one worker reaches a screen connected to the other."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import entity
from tests.dashboard.hub import Hub, free_port

V1 = "/ngsi-ld/v1"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("postgres_url"))


class Events:
    """The events of one feed connection, read on a thread into a queue."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[tuple[str, object] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str] | None) -> None:
        try:
            with httpx.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(5, read=60)
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        self.events.put((event, orjson.loads(line[6:])))
        except httpx.HTTPError:
            pass
        finally:
            self.events.put(None)  # the stream ended

    def next(self, timeout: float = 10) -> tuple[str, object] | None:
        return self.events.get(timeout=timeout)

    def ended(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _hello(event: tuple[str, object] | None) -> str:
    """The tenant of a ``hello`` event (which also names the hub process serving it)."""
    assert event is not None and event[0] == "hello", event
    data = event[1]
    assert isinstance(data, dict) and isinstance(data["process"], str), data
    return str(data["tenant"])


@pytest.fixture
def hubs() -> Iterator[list[Hub]]:
    started: list[Hub] = []
    yield started
    for hub in started:
        # SIGTERM first: a hub with workers stops them (a SIGKILL would leave them holding
        # the test schema's tables, and its drop would wait for them)
        hub.stop(timeout=30)


def test_a_change_arrives_and_a_restart_is_survived(
    tmp_path: Path, store: str, hubs: list[Hub]
) -> None:
    port = free_port()
    hub = Hub(store, port, tmp_path)
    hubs.append(hub)
    feed = Events(f"{hub.url}/dashboard/feed?tenant=city")
    assert _hello(feed.next()) == "city"
    eid = "urn:ngsi-ld:AirQualityObserved:live-1"
    started = time.monotonic()
    created = httpx.post(
        hub.url + V1 + "/entities", json=entity(eid), headers={"NGSILD-Tenant": "city"}
    )
    assert created.status_code == 201, created.text
    # created; the air-quality service's write of its CAI may follow within the feed's batch
    # window (the latest kind of an entity wins: feed.py coalesces), and the alert engine's
    # state entity may come first
    kinds: dict[str, tuple[str, str]] = {}
    while eid not in kinds:
        kind, event = feed.next()
        assert kind == "change" and isinstance(event, dict), (kind, event)
        kinds.update((c[0], (c[1], c[2])) for c in event["changes"])
    assert kinds[eid][1] == "AirQualityObserved"
    assert kinds[eid][0] in ("entityCreated", "entityUpdated"), kinds
    assert time.monotonic() - started < 5  # within a second on an idle machine

    # the hub stops with a screen open: the stream ends, the hub does not wait for it
    assert hub.stop(timeout=20) in (0, -signal.SIGTERM), hub.output()
    assert "Shutting down" in hub.output() and "Traceback" not in hub.output()
    assert feed.ended(timeout=10)

    again = Hub(store, port, tmp_path)
    hubs.append(again)
    feed = Events(f"{again.url}/dashboard/feed?tenant=city")
    assert _hello(feed.next()) == "city"
    patch = {"pm25": {"type": "Property", "value": 90}}
    answer = httpx.patch(
        f"{again.url}{V1}/entities/{eid}/attrs", json=patch, headers={"NGSILD-Tenant": "city"}
    )
    assert answer.status_code == 204, answer.text
    # the city services' results (the alert engine's state of a PM2.5 of 90, the CAI written
    # back) come in the same events, in any order: the latest change of an entity places it
    heard: list[list[str]] = []
    while [eid, "entityUpdated", "AirQualityObserved"] not in heard:
        kind, event = feed.next()
        assert kind == "change" and isinstance(event, dict), (kind, event)
        heard.extend(event["changes"])
    assert again.stop(timeout=20) in (0, -signal.SIGTERM)


def test_a_write_served_by_one_worker_reaches_a_screen_on_the_other(
    tmp_path: Path, postgres_url: str, hubs: list[Hub]
) -> None:
    """Two real worker processes on one PostgreSQL: screens are opened until both workers
    serve one (``hello`` names the process), then writes, each on a connection of its own
    (the kernel spreads them over the workers): every screen hears every write, whichever
    worker served it (the store's LISTEN/NOTIFY, cityhub/store/postgres/changes.py)."""
    hub = Hub(postgres_url, free_port(), tmp_path, "--workers", "2")
    hubs.append(hub)
    url = f"{hub.url}/dashboard/feed?tenant=city"
    screens: dict[str, Events] = {}
    for _ in range(60):
        feed = Events(url)
        event = feed.next(timeout=30)
        assert _hello(event) == "city"
        assert event is not None and isinstance(event[1], dict)
        screens.setdefault(event[1]["process"], feed)
        if len(screens) == 2:
            break
    assert len(screens) == 2, "the kernel gave every connection to one worker"
    ids = [f"urn:ngsi-ld:AirQualityObserved:workers-{n}" for n in range(8)]
    for eid in ids:
        with httpx.Client(base_url=hub.url + V1, headers={"NGSILD-Tenant": "city"}) as api:
            created = api.post("/entities", json=entity(eid))
            assert created.status_code == 201, created.text
    for process, feed in screens.items():
        heard: set[str] = set()
        while not set(ids) <= heard:
            try:
                event = feed.next(timeout=15)
            except queue.Empty:
                pytest.fail(f"the screen on {process} did not hear {sorted(set(ids) - heard)}")
            assert event is not None, f"the screen on {process} ended"
            kind, data = event
            if kind == "change":
                assert isinstance(data, dict)
                heard.update(c[0] for c in data["changes"])
        assert set(ids) <= heard, process
    assert hub.stop(timeout=30) in (0, -signal.SIGTERM, 1), hub.output()


def test_with_access_control_on_the_feed_takes_the_key_in_its_header_and_tells_only_what_it_reads(
    tmp_path: Path, hubs: list[Hub]
) -> None:
    """docs/access.md: an EventSource cannot send a header, so the page reads the feed with
    fetch and the key in ``Authorization`` (never in the URL, so never in the access log).
    Without credentials the feed is 401 (its files stay open: a browser loads them before it
    can ask for a key); with a key narrowed to AirQualityObserved, the screen hears the changes
    of air-quality entities only."""
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", free_port(), tmp_path)
    hubs.append(hub)
    admin_key = httpx.post(f"{hub.url}/admin/keys", json={"name": "ops", "admin": True})
    assert admin_key.status_code == 201, admin_key.text
    admin = {"Authorization": f"Bearer {admin_key.json()['key']}"}
    assert httpx.post(f"{hub.url}/admin/tenants", json={"name": "city"}, headers=admin).is_success
    made = httpx.post(
        f"{hub.url}/admin/keys", json={"name": "tower", "tenant": "city"}, headers=admin
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    permission = {
        "tenant": "city",
        "action": "read",
        "target": {"type": "AirQualityObserved"},
        "assignee": {"key": key.split("_")[1]},
    }
    assert httpx.post(f"{hub.url}/admin/permissions", json=permission, headers=admin).is_success

    url = f"{hub.url}/dashboard/feed?tenant=city"
    refused = httpx.get(url)
    assert refused.status_code == 401, refused.text  # no credentials: no feed
    assert httpx.get(url, headers={"Authorization": "Bearer chk_nope_nope"}).status_code == 401
    assert httpx.get(f"{hub.url}/dashboard/static/app.js").status_code == 200

    feed = Events(url, headers={"Authorization": f"Bearer {key}"})
    assert _hello(feed.next()) == "city"
    writes = {**admin, "NGSILD-Tenant": "city"}
    aq1, aq2 = (f"urn:ngsi-ld:AirQualityObserved:access-{n}" for n in (1, 2))
    parking = "urn:ngsi-ld:OnStreetParking:access-1"
    for eid, kind in ((aq1, "AirQualityObserved"), (parking, "OnStreetParking"),
                      (aq2, "AirQualityObserved")):  # fmt: skip
        body = {"id": eid, "type": kind, "name": {"type": "Property", "value": eid}}
        created = httpx.post(f"{hub.url}{V1}/entities", json=body, headers=writes)
        assert created.status_code == 201, created.text
    heard: list[str] = []
    while aq2 not in heard:
        kind, event = feed.next()
        assert kind == "change" and isinstance(event, dict)
        heard.extend(c[0] for c in event["changes"])
    assert heard == [aq1, aq2]  # the car park it may not read: not a word
    assert key not in hub.output() and key.split("_")[2] not in hub.output()
