"""The live feed: each screen hears its own tenant's committed changes, coalesced per entity;
a screen that falls too far behind is told to read everything again instead of growing the
hub's memory; closing ends every stream. On both backends where the store is involved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from cityhub.dashboard.feed import PROCESS, ChangeFeed, FeedFull, Subscriber, sse
from cityhub.store.base import Change
from tests.conftest import DEFAULT, entity, make_client

V1 = "/ngsi-ld/v1"


def _change(eid: str, tenant: str = "", kind: str = "entityUpdated") -> Change:
    after = {"id": eid, "type": [DEFAULT + "AirQualityObserved"], "attrs": {}}
    return Change(kind, tenant, eid, None, after)


def _events(chunks: list[bytes]) -> list[tuple[str, object]]:
    out = []
    for chunk in chunks:
        if chunk.startswith(b":"):
            out.append(("comment", None))
            continue
        fields = dict(
            line.split(": ", 1) for line in chunk.decode().strip().splitlines() if ": " in line
        )
        out.append((fields["event"], orjson.loads(fields["data"])))
    return out


def test_each_screen_hears_its_own_tenant_only() -> None:
    async def run() -> None:
        feed = ChangeFeed()
        city = feed.subscribe("city")
        other = feed.subscribe("")
        feed.on_commit([_change("urn:a", "city"), _change("urn:b", "")])
        assert list(city.pending) == ["urn:a"] and list(other.pending) == ["urn:b"]
        assert city.pending["urn:a"] == ("entityUpdated", "AirQualityObserved")

    asyncio.run(run())


def test_changes_to_one_entity_coalesce_to_the_latest() -> None:
    async def run() -> None:
        feed = ChangeFeed()
        sub = feed.subscribe("")
        for kind in ("entityCreated", "entityUpdated", "entityUpdated", "entityDeleted"):
            feed.on_commit([_change("urn:a", kind=kind)])
        feed.on_commit([_change("urn:b")])
        resync, batch = sub.take(100)
        assert not resync
        assert batch == [("urn:a", "entityDeleted", "AirQualityObserved"),
                         ("urn:b", "entityUpdated", "AirQualityObserved")]  # fmt: skip
        assert not sub.wake.is_set()
        # a create and the updates after it, before the screen heard of it: still created
        # (the air-quality service writes a new station's result back within milliseconds)
        for kind in ("entityCreated", "entityUpdated", "entityUpdated"):
            feed.on_commit([_change("urn:c", kind=kind)])
        assert sub.take(100)[1] == [("urn:c", "entityCreated", "AirQualityObserved")]

    asyncio.run(run())


def test_a_screen_too_far_behind_is_told_to_resync_and_holds_nothing() -> None:
    async def run() -> None:
        feed = ChangeFeed(max_pending=10)
        slow = feed.subscribe("")
        for n in range(1000):
            feed.on_commit([_change(f"urn:{n}")])
        assert slow.pending == {} and slow.overflowed  # bounded, whatever arrives
        assert slow.take(100) == (True, [])
        feed.on_commit([_change("urn:again")])
        assert slow.take(100) == (False, [("urn:again", "entityUpdated", "AirQualityObserved")])

    asyncio.run(run())


def test_the_stream_says_hello_sends_changes_and_ends_on_close() -> None:
    async def run() -> None:
        feed = ChangeFeed()
        sub = feed.subscribe("t1")
        stream = feed.stream(sub, keepalive=0.05)
        chunks = [await anext(stream)]
        assert chunks[0].startswith(b"retry: 1000\n")
        chunks.append(await anext(stream))  # nothing happens: a keepalive comment
        feed.on_commit([_change("urn:x", "t1", "entityCreated")])
        chunks.append(await anext(stream))
        events = _events(chunks)
        assert events[0] == ("hello", {"tenant": "t1", "process": PROCESS})
        assert events[1] == ("comment", None)
        assert events[2] == (
            "change",
            {"changes": [["urn:x", "entityCreated", "AirQualityObserved"]]},
        )
        feed.close()
        assert [c async for c in stream] == []  # the stream ends
        assert feed.open_streams == 0
        with pytest.raises(FeedFull):  # a stopping server takes no new screens
            feed.subscribe("t1")

    asyncio.run(run())


def test_a_resync_event_after_overflow() -> None:
    async def run() -> None:
        feed = ChangeFeed(max_pending=2)
        sub = feed.subscribe("")
        stream = feed.stream(sub)
        await anext(stream)
        feed.on_commit([_change(f"urn:{n}") for n in range(5)])
        assert _events([await anext(stream)]) == [("resync", {})]
        await stream.aclose()
        assert feed.open_streams == 0

    asyncio.run(run())


def test_the_number_of_streams_is_bounded() -> None:
    async def run() -> None:
        feed = ChangeFeed(max_streams=2)
        first = feed.subscribe("")
        feed.subscribe("other")
        with pytest.raises(FeedFull):
            feed.subscribe("")
        feed.unsubscribe(first)
        assert isinstance(feed.subscribe(""), Subscriber)

    asyncio.run(run())


def test_a_commit_with_no_screen_open_costs_a_lookup() -> None:
    feed = ChangeFeed()
    feed.on_commit([_change("urn:a")])  # no subscriber, nothing kept
    assert feed.open_streams == 0


def test_sse_frames_one_event_per_blank_line() -> None:
    frame = sse("change", {"changes": [["urn:a\nb", "entityUpdated", "T"]]})
    assert frame.count(b"\n\n") == 1 and frame.endswith(b"\n\n")
    assert b"\\n" in frame  # a newline inside data is escaped by JSON, so it cannot end a field


def test_writes_through_the_api_reach_the_feed_of_their_tenant(client: TestClient) -> None:
    """The store's listener, on the backend at hand: a create, an update and a delete
    through the API are in the feed of the default tenant, with the entity's type; a write
    to another tenant is not."""
    feed: ChangeFeed = client.app.state.dashboard.feed  # type: ignore[attr-defined]
    assert client.portal is not None
    sub = client.portal.call(lambda: _subscribe(feed, ""))
    eid = "urn:ngsi-ld:AirQualityObserved:feed-1"
    assert client.post(V1 + "/entities", json=entity(eid)).status_code == 201
    assert sub.pending[eid] == ("entityCreated", "AirQualityObserved")
    sub.take(100)  # the screen heard of it (an update before that would leave it created)
    patch = {"pm25": {"type": "Property", "value": 80}}
    assert client.patch(f"{V1}/entities/{eid}/attrs", json=patch).status_code == 204
    assert sub.pending[eid] == ("entityUpdated", "AirQualityObserved")
    other = client.post(
        V1 + "/entities", json=entity("urn:ngsi-ld:AirQualityObserved:elsewhere"),
        headers={"NGSILD-Tenant": "elsewhere"},
    )  # fmt: skip
    assert other.status_code == 201
    assert "urn:ngsi-ld:AirQualityObserved:elsewhere" not in sub.pending
    assert client.delete(f"{V1}/entities/{eid}").status_code == 204
    assert sub.pending[eid] == ("entityDeleted", "AirQualityObserved")
    feed.unsubscribe(sub)


async def _subscribe(feed: ChangeFeed, tenant: str) -> Subscriber:
    return feed.subscribe(tenant)


def test_every_app_has_its_own_feed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with make_client(tmp_path / "a") as a, make_client(tmp_path / "b") as b:
        assert a.app.state.dashboard.feed is not b.app.state.dashboard.feed  # type: ignore[attr-defined]


def test_what_another_process_cannot_name_makes_its_screens_resync() -> None:
    """``on_shared(tenant, None)``: that tenant changed more than the store could name (another
    process's large transaction); ``on_shared(None, None)``: the store lost touch with the other
    processes for a while, so any tenant may have changed."""
    feed = ChangeFeed()
    t1, t2 = feed.subscribe("t1"), feed.subscribe("t2")
    feed.on_shared("t1", [_change("urn:a", "t1")])
    feed.on_shared("t1", None)
    assert t1.take(100) == (True, []) and t1.pending == {}  # the change is in the resync
    assert t2.take(100) == (False, [])
    feed.on_shared(None, None)
    assert t1.take(100) == (True, []) and t2.take(100) == (True, [])
