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

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, object] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=60)) as response:
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
    assert feed.next() == ("change", {"changes": [[eid, "entityCreated", "AirQualityObserved"]]})
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
    kind, event = feed.next()
    # the update first; a city service's result (the alert engine's state of a PM2.5 of 90)
    # may follow in the same event
    assert kind == "change" and event["changes"][0] == [eid, "entityUpdated", "AirQualityObserved"]
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
                heard.update(c[0] for c in data["changes"] if c[1] == "entityCreated")
        assert set(ids) <= heard, process
    assert hub.stop(timeout=30) in (0, -signal.SIGTERM, 1), hub.output()
