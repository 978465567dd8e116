"""The live feed over real HTTP (``cityhub serve`` in a child process): a write's change
arrives as an event, a stopping hub ends the stream instead of waiting for it forever, and the
restarted hub takes the screen back. On both backends."""

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


@pytest.fixture
def hubs() -> Iterator[list[Hub]]:
    started: list[Hub] = []
    yield started
    for hub in started:
        hub.kill()


def test_a_change_arrives_and_a_restart_is_survived(
    tmp_path: Path, store: str, hubs: list[Hub]
) -> None:
    port = free_port()
    hub = Hub(store, port, tmp_path)
    hubs.append(hub)
    feed = Events(f"{hub.url}/dashboard/feed?tenant=city")
    assert feed.next() == ("hello", {"tenant": "city"})
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
    assert feed.next() == ("hello", {"tenant": "city"})
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
