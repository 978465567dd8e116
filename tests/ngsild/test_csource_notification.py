"""Matching registrations against registration subscriptions (clause 5.11.7), pure."""

from __future__ import annotations

from typing import Any

from cityhub.ngsild import csource_notification as cn
from cityhub.ngsild.context import build_term_map

CORE = build_term_map(None, {})
EX = "https://example.org/ns#"


def sel(**doc: Any) -> cn.CsourceSelector:
    return cn.prepare({"id": "urn:ngsi-ld:Subscription:1", **doc}, CORE.expand)


def reg(*information: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:ContextSourceRegistration:1",
        "information": list(information),
        **extra,
    }


def test_entities_by_type_id_and_id_pattern() -> None:
    wanted = sel(entities=[{"type": EX + "Vehicle", "id": "urn:ngsi-ld:Vehicle:A456"}])
    assert cn.matching_view(reg({"entities": [{"type": EX + "Vehicle"}]}), wanted)
    held_id = {"entities": [{"type": EX + "Vehicle", "id": "urn:ngsi-ld:Vehicle:B1"}]}
    assert cn.matching_view(reg(held_id), wanted) is None
    pattern = {"entities": [{"type": EX + "Vehicle", "idPattern": ".*A456$"}]}
    assert cn.matching_view(reg(pattern), wanted)
    by_pattern = sel(entities=[{"type": EX + "Vehicle", "idPattern": "^urn:ngsi-ld:Vehicle:B"}])
    assert cn.matching_view(reg(held_id), by_pattern)
    assert cn.matching_view(reg({"entities": [{"type": EX + "Bus"}]}), wanted) is None
    # a RegistrationInfo without entities covers every entity
    assert cn.matching_view(reg({"propertyNames": [EX + "speed"]}), wanted)


def test_only_relevant_registration_info() -> None:
    building = {"entities": [{"type": EX + "Building"}]}
    bus = {"entities": [{"type": EX + "Bus"}]}
    view = cn.matching_view(
        reg(building, bus, endpoint="http://x"), sel(entities=[{"type": EX + "Building"}])
    )
    assert view is not None
    assert view["information"] == [building] and view["endpoint"] == "http://x"


def test_watched_attributes() -> None:
    watched = sel(entities=[{"type": EX + "Building"}], watchedAttributes=[EX + "name"])
    named = {"entities": [{"type": EX + "Building"}], "propertyNames": [EX + "name"]}
    other = {"entities": [{"type": EX + "Building"}], "relationshipNames": [EX + "owner"]}
    every = {"entities": [{"type": EX + "Building"}]}
    assert cn.matching_view(reg(named), watched)
    assert cn.matching_view(reg(other), watched) is None
    assert cn.matching_view(reg(every), watched)  # no names: every attribute


def test_q_uses_the_kept_terms() -> None:
    doc = {"entities": [{"type": EX + "Building"}], "q": "brand==%22acme%22"}
    doc[cn.TERMS_MEMBER] = cn.query_terms(doc, lambda n: EX + n)
    assert doc[cn.TERMS_MEMBER] == {"brand": EX + "brand"}
    selector = sel(**doc)
    info = {"entities": [{"type": EX + "Building"}]}
    assert cn.matching_view(reg(info, properties={EX + "brand": "acme"}), selector)
    assert cn.matching_view(reg(info, properties={EX + "brand": "other"}), selector) is None


def test_geo_query_defaults_to_location() -> None:
    geo = {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [-8.52, 41.2]}
    selector = sel(entities=[{"type": EX + "Building"}], geoQ=geo)
    info = {"entities": [{"type": EX + "Building"}]}
    near = {"type": "Point", "coordinates": [-8.521, 41.2]}
    far = {"type": "Point", "coordinates": [2.35, 48.85]}
    assert cn.matching_view(reg(info, location=near), selector)
    assert cn.matching_view(reg(info, location=far), selector) is None
    assert cn.matching_view(reg(info), selector) is None


def test_trigger_reasons() -> None:
    view = {"id": "x"}
    assert cn.trigger_reason(None, view) == cn.NEWLY_MATCHING
    assert cn.trigger_reason(view, view) == cn.UPDATED
    assert cn.trigger_reason(view, None) == cn.NO_LONGER_MATCHING
    assert cn.trigger_reason(None, None) is None


def test_status() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert sel(entities=[{"type": "T"}]).active(now)
    assert not sel(entities=[{"type": "T"}], isActive=False).active(now)
    assert not sel(entities=[{"type": "T"}], expiresAt="2025-01-01T00:00:00Z").active(now)
