"""Pure registration logic: ETSI GS CIM 009 v1.8.1 clauses 4.3.6.3, 5.2.9-5.2.12, 5.9-5.11."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild import registration as reg
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.query.geo import expand_geo, parse_geo_query

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EX = "https://example.org/ns#"
TERMS = build_term_map([{"ex": EX, "Building": EX + "Building", "name": EX + "name"}], {})
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def body(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "urn:ngsi-ld:ContextSourceRegistration:1",
        "type": "ContextSourceRegistration",
        "information": [
            {
                "entities": [{"id": "urn:ngsi-ld:Building:1", "type": "Building"}],
                "propertyNames": ["name"],
                "relationshipNames": ["owner"],
            }
        ],
        "endpoint": "http://cs.example.org:1026",
    }
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


def expand(**extra: Any) -> dict[str, Any]:
    return reg.expand_registration(body(**extra), TERMS, NOW)


# 5.2.9 / 5.9.2: names are expanded on the way in, compacted on the way out
def test_registration_round_trip() -> None:
    doc = expand(myProp="v", status="ok")
    info = doc["information"][0]
    assert info["entities"][0]["type"] == EX + "Building"
    assert info["propertyNames"] == [EX + "name"]
    assert info["relationshipNames"] == [DEFAULT + "owner"]
    assert doc["properties"] == {DEFAULT + "myProp": "v"}
    assert "status" not in doc  # status members are the broker's (5.2.9)
    out = reg.compact_registration(doc, TERMS)
    assert out == {**body(), "myProp": "v", "mode": "inclusive", "operations": ["federationOps"]}


# 5.9.2: the broker assigns an id when there is none
def test_id_is_generated() -> None:
    doc = reg.expand_registration({k: v for k, v in body().items() if k != "id"}, TERMS, NOW)
    assert doc["id"].startswith("urn:ngsi-ld:ContextSourceRegistration:")


# 5.2.9 / 5.2.10 / 5.2.8: BadRequestData for content that breaks the data type
@pytest.mark.parametrize(
    "extra",
    [
        {"endpoint": None},
        {"endpoint": "not a uri"},
        {"information": None},
        {"information": []},
        {"information": [{}]},
        {"information": [{"entities": []}]},
        {"information": [{"entities": [{"id": "urn:x:1"}]}]},  # EntityInfo without type
        {"information": [{"entities": [{"type": "T", "idPattern": "("}]}]},
        {"information": [{"propertyNames": ["bad name"]}]},
        {"information": [{"colour": ["red"]}]},
        {"type": "Building"},
        {"id": "not-a-uri"},
        {"expiresAt": " 2035-01-01T00:00:00Z"},
        {"expiresAt": "2020-01-01T00:00:00Z"},  # in the past
        {"mode": "sometimes"},
        {"operations": ["fly"]},
        {"operations": []},
        {"observationInterval": {"endAt": "2020-01-01T00:00:00Z"}},
        {
            "managementInterval": {
                "startAt": "2021-01-01T00:00:00Z",
                "endAt": "2020-01-01T00:00:00Z",
            }
        },
        {"location": {"type": "Point"}},
        {"contextSourceInfo": [{"key": "k"}]},
        {"management": {"timeout": -1}},
        {"refreshRate": "soon"},
        {"myProp": None},
    ],
)
def test_invalid_registrations(extra: dict[str, Any]) -> None:
    b = body()
    b.update(extra)
    if extra.get("endpoint", 1) is None:
        del b["endpoint"]
    with pytest.raises(BadRequestData):
        reg.expand_registration(b, TERMS, NOW)


def test_type_is_mandatory() -> None:
    b = body()
    del b["type"]
    with pytest.raises(BadRequestData):
        reg.expand_registration(b, TERMS, NOW)


# 4.3.6.3: an exclusive registration names entity ids (no idPattern, no type-only) and attributes
@pytest.mark.parametrize(
    "info",
    [
        {"entities": [{"idPattern": ".*", "type": "Building"}], "propertyNames": ["name"]},
        {"entities": [{"type": "Building"}], "propertyNames": ["name"]},
        {"entities": [{"id": "urn:x:1", "type": "Building"}]},
        {"propertyNames": ["name"]},
    ],
)
def test_exclusive_needs_entity_ids_and_attributes(info: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData, match="4.3.6.3"):
        expand(mode="exclusive", information=[info])


def test_exclusive_valid_and_modes() -> None:
    assert expand(mode="exclusive")["mode"] == "exclusive"
    ops = ["queryEntity", "retrieveOps", "redirectionOps"]
    assert expand(mode="redirect", operations=ops)["operations"] == ops


# 4.3.6.3: an exclusive registration owns its attributes against other exclusive/redirect ones
def test_proxied_conflict() -> None:
    held = expand(mode="exclusive")
    other = reg.expand_registration(
        body(id="urn:ngsi-ld:ContextSourceRegistration:2", mode="redirect"), TERMS, NOW
    )
    assert reg.proxied_conflict(other, held)
    assert not reg.proxied_conflict(held, held)  # itself, on update
    inclusive = {**other, "mode": "inclusive"}
    assert not reg.proxied_conflict(inclusive, held)
    elsewhere = {
        **other,
        "information": [{"entities": [{"id": "urn:x:9", "type": EX + "Building"}]}],
    }
    assert not reg.proxied_conflict(elsewhere, held)
    other_attr = {**other, "information": [{**held["information"][0], "propertyNames": ["z"]}]}
    other_attr["information"][0].pop("relationshipNames")
    assert not reg.proxied_conflict(other_attr, held)


# 5.9.3: a fragment replaces members; null removes optional ones, never mandatory ones
def test_fragment_merge() -> None:
    doc = expand(expiresAt="2035-01-01T00:00:00Z", myProp=1)
    frag = reg.expand_registration_fragment(
        {"expiresAt": None, "endpoint": "http://new.org", "myProp": None}, TERMS, doc["id"], NOW
    )
    merged = reg.merge_registration(doc, frag, "2026-01-01T00:00:00.000000Z")
    assert "expiresAt" not in merged and "properties" not in merged
    assert merged["endpoint"] == "http://new.org"
    assert merged["modifiedAt"] == "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "fragment",
    [
        {"information": None},
        {"endpoint": None},
        {"type": "Building"},
        {"id": "urn:ngsi-ld:ContextSourceRegistration:other"},
        {},
        {"mode": "exclusive", "information": [{"entities": [{"type": "Building"}]}]},
    ],
)
def test_bad_fragments(fragment: dict[str, Any]) -> None:
    doc = expand()
    with pytest.raises(BadRequestData):
        frag = reg.expand_registration_fragment(fragment, TERMS, doc["id"], NOW)
        reg.merge_registration(doc, frag, "2026-01-01T00:00:00Z")


# 5.10.2: discovery semantics on one RegistrationInfo
def registration(information: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return expand(information=information, **extra)


def test_matching_type_id_and_attrs() -> None:
    doc = registration(
        [
            {"entities": [{"type": "Building"}], "propertyNames": ["name"]},
            {"entities": [{"idPattern": ".*downtown$", "type": "Parking"}]},
        ]
    )
    building, parking, name = EX + "Building", DEFAULT + "Parking", EX + "name"
    q = reg.RegistrationQuery
    assert reg.matches_registration(doc, q(types=(building,)))
    assert not reg.matches_registration(doc, q(types=(DEFAULT + "Car",)))
    # type and attribute must come from the same RegistrationInfo... but an info without
    # attribute names covers every attribute
    assert reg.matches_registration(doc, q(types=(building,), attrs=(name,)))
    assert not reg.matches_registration(doc, q(types=(building,), attrs=(DEFAULT + "x",)))
    assert reg.matches_registration(doc, q(types=(parking,), attrs=(DEFAULT + "x",)))
    assert reg.matches_registration(doc, q(ids=("urn:p:downtown",), types=(parking,)))
    assert not reg.matches_registration(doc, q(ids=("urn:p:uptown",), types=(parking,)))
    assert reg.matches_registration(doc, q(id_pattern="^urn:b", types=(building,)))


def test_info_without_entities_matches_every_entity() -> None:
    doc = registration([{"propertyNames": ["name"]}])
    query = reg.RegistrationQuery(types=(DEFAULT + "Parking",), id_pattern=".*downtown$")
    assert reg.matches_registration(doc, query)


def test_q_csf_on_csource_properties() -> None:
    doc = expand(csourceProperty1="aValue", level=3)
    q = reg.parse_registration_q('csourceProperty1=="aValue";level>2', TERMS.expand)
    assert reg.matches_registration(doc, reg.RegistrationQuery(q=q))
    miss = reg.parse_registration_q("level<3|csourceProperty1~=^b", TERMS.expand)
    assert not reg.matches_registration(doc, reg.RegistrationQuery(csf=miss))
    exists = reg.parse_registration_q("level", TERMS.expand)
    assert reg.matches_registration(doc, reg.RegistrationQuery(q=exists))
    listed = reg.parse_registration_q("level==1,3", TERMS.expand)
    assert reg.matches_registration(doc, reg.RegistrationQuery(q=listed))


def test_geo_query_on_location() -> None:
    doc = expand(location={"type": "Point", "coordinates": [-8.521, 41.2]})
    geo = parse_geo_query("near;maxDistance==2000", "Point", "[-8.503,41.202]", None)
    assert geo is not None
    assert reg.matches_registration(doc, reg.RegistrationQuery(geo=expand_geo(geo, TERMS.expand)))
    far = parse_geo_query("near;maxDistance==20", "Point", "[-8.503,41.202]", "location")
    assert far is not None
    assert not reg.matches_registration(
        doc, reg.RegistrationQuery(geo=expand_geo(far, TERMS.expand))
    )


# 4.11 / 5.10.2: temporal queries match observationInterval (observedAt) or managementInterval
def test_temporal_query() -> None:
    interval = {"startAt": "2020-08-01T22:07:00Z", "endAt": "2021-08-01T21:07:00Z"}
    doc = expand(observationInterval=interval)
    before = reg.parse_temporal_query("before", "2021-08-01T22:00:00Z")
    after = reg.parse_temporal_query("after", "2021-08-01T22:00:00Z")
    managed = reg.parse_temporal_query("before", "2021-08-01T22:00:00Z", None, "createdAt")
    between = reg.parse_temporal_query("between", "2019-01-01T00:00:00Z", "2020-09-01T00:00:00Z")
    assert reg.matches_registration(doc, reg.RegistrationQuery(temporal=before))
    assert not reg.matches_registration(doc, reg.RegistrationQuery(temporal=after))
    assert not reg.matches_registration(doc, reg.RegistrationQuery(temporal=managed))
    assert reg.matches_registration(doc, reg.RegistrationQuery(temporal=between))


@pytest.mark.parametrize(
    "args",
    [
        ("before", None),
        ("sometime", "2020-01-01T00:00:00Z"),
        ("between", "2020-01-01T00:00:00Z"),
        ("after", "2020-01-01T00:00:00Z", None, "expiresAt"),
        (None, "yesterday"),
    ],
)
def test_bad_temporal_query(args: tuple[Any, ...]) -> None:
    with pytest.raises(BadRequestData):
        reg.parse_temporal_query(*args)


# 5.2.12 (registration flavour) / 5.11.2
def subscription(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:1",
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "attributes": ["name"],
            "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"},
        },
    }
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


def test_subscription_round_trip_and_status() -> None:
    doc = reg.expand_csource_subscription(subscription(watchedAttributes=["name"]), TERMS, NOW)
    assert doc["entities"][0]["type"] == EX + "Building"
    assert doc["notification"]["attributes"] == [EX + "name"]
    out = reg.compact_csource_subscription(doc, TERMS, NOW)
    assert out == {**subscription(watchedAttributes=["name"]), "status": "active"}
    paused = {**doc, "isActive": False}
    assert reg.compact_csource_subscription(paused, TERMS, NOW)["status"] == "paused"
    expiring = {**doc, "expiresAt": "2026-06-01T00:00:00Z"}
    assert reg.subscription_status(expiring, NOW) == "active"
    assert reg.subscription_status(expiring, datetime(2027, 1, 1, tzinfo=UTC)) == "expired"


@pytest.mark.parametrize(
    "extra",
    [
        {"notification": None},
        {"type": "RandomType"},
        {"watchedAttributes": []},
        {"expiresAt": "2018-08-01T22:07:00Z"},
        {"q": "(broken"},
        {"geoQ": {"georel": "within"}},
        {"temporalQ": {"timerel": "before"}},
        {"timeInterval": 10, "watchedAttributes": ["name"]},
        {"entities": None},
        {"notification": {"format": "keyValues"}},
        {"notification": {"endpoint": {"uri": "nope"}}},
        {"isActive": "yes"},
        {"colour": "red"},
    ],
)
def test_invalid_subscriptions(extra: dict[str, Any]) -> None:
    b = subscription()
    b.update(extra)
    if "notification" in extra and extra["notification"] is None:
        del b["notification"]
    if "entities" in extra:
        del b["entities"]
    with pytest.raises(BadRequestData):
        reg.expand_csource_subscription(b, TERMS, NOW)


# 5.11.3: fragments replace members; type cannot be removed, notification must stay valid
def test_subscription_fragments() -> None:
    doc = reg.expand_csource_subscription(subscription(isActive=True), TERMS, NOW)
    frag = reg.expand_csource_subscription_fragment({"isActive": None}, TERMS, doc["id"], NOW)
    assert "isActive" not in reg.merge_csource_subscription(doc, frag, "t")
    for bad in (
        {"type": None},
        {"notification": {"format": "keyValues"}},
        {"notification": None},
    ):
        with pytest.raises(BadRequestData):
            reg.expand_csource_subscription_fragment(bad, TERMS, doc["id"], NOW)
