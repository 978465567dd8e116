"""The subscription index only drops subscriptions that cannot match (cityhub.notify.index)."""

from __future__ import annotations

from cityhub.notify.index import SubscriptionIndex
from cityhub.notify.matcher import TermMaps, prepare
from tests.notify._support import AQO, D, ent, sub


def _index(*docs: dict) -> SubscriptionIndex:
    return SubscriptionIndex(prepare("", d, TermMaps()) for d in docs)


def _ids(index: SubscriptionIndex, before: dict | None, after: dict | None) -> list[str]:
    return [s.id for s in index.candidates(before, after)]


def test_keys_by_id_type_and_attribute() -> None:
    index = _index(
        sub("urn:s:type"),
        sub("urn:s:other-type", entities=[{"type": D + "Streetlight"}]),
        sub("urn:s:id", entities=[{"id": "urn:ngsi-ld:AirQualityObserved:1", "type": AQO}]),
        sub("urn:s:other-id", entities=[{"id": "urn:x:2", "type": AQO}]),
        sub("urn:s:pattern", entities=[{"idPattern": ".*", "type": AQO}]),
        sub("urn:s:type-query", entities=[{"type": f"{D}Streetlight|{AQO}"}]),
        sub("urn:s:watched", entities=..., watchedAttributes=[D + "pm25"]),
        sub("urn:s:watched-other", entities=..., watchedAttributes=[D + "no2"]),
        sub("urn:s:periodic", timeInterval=60),
    )
    assert _ids(index, None, ent()) == [
        "urn:s:type",
        "urn:s:id",
        "urn:s:pattern",
        "urn:s:type-query",
        "urn:s:watched",
    ]


def test_a_type_change_finds_both_types() -> None:
    index = _index(sub("urn:s:a"), sub("urn:s:b", entities=[{"type": D + "Streetlight"}]))
    assert _ids(index, ent(), ent(types=[D + "Streetlight"])) == ["urn:s:a", "urn:s:b"]


def test_ten_thousand_subscriptions_give_few_candidates() -> None:
    docs = [sub(f"urn:s:{i}", entities=[{"type": f"{D}T{i % 1000}"}]) for i in range(10_000)]
    index = _index(*docs, sub("urn:s:mine"))
    assert _ids(index, None, ent()) == ["urn:s:mine"]
