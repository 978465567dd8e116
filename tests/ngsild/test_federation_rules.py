"""The pure rules of distributed operations (cityhub.ngsild.federation): which registrations
a read goes to, merging, Via loop detection, NGSILD-Warning, allowed hosts."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild.federation import (
    ADDITIVE,
    AUXILIARY,
    MAX_HOPS,
    PROXIED,
    AllowedHosts,
    Part,
    forwards_to,
    is_loop,
    merge_entities,
    merge_lists,
    via_names,
    via_value,
    warning,
)

SPEED = "https://example.org/speed"
BRAND = "https://example.org/brandName"


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def ent(attrs: dict[str, list[dict[str, Any]]], types: tuple[str, ...] = ("T",)) -> Any:
    return {"id": "urn:ngsi-ld:T:1", "type": list(types), "attrs": attrs}


def test_operations_default_to_federation_ops_and_groups_count() -> None:
    """Clause 5.2.9: operations default to federationOps; table 4.20-2's groups."""
    assert forwards_to({"mode": "inclusive"}, "queryBatch")
    assert forwards_to({}, "retrieveEntity")
    assert forwards_to({"operations": ["retrieveOps"]}, "queryEntity")
    assert not forwards_to({"operations": ["retrieveOps"]}, "queryBatch")
    assert forwards_to({"operations": ["queryBatch"]}, "queryBatch")
    assert not forwards_to({"operations": ["queryEntity"]}, "retrieveEntity")
    assert not forwards_to({"operations": ["updateOps"]}, "queryEntity")


def test_reads_go_to_every_mode() -> None:
    """Clause 4.3.6.2 (inclusive, auxiliary) and 4.3.6.3 (exclusive, redirect: the registered
    data is only at the source): a read goes to all four, as their operations allow."""
    for mode in ("inclusive", "auxiliary", "exclusive", "redirect"):
        assert forwards_to({"mode": mode}, "queryEntity")
    assert forwards_to({"mode": "redirect", "operations": ["redirectionOps"]}, "retrieveEntity")
    assert not forwards_to({"mode": "exclusive", "operations": ["updateOps"]}, "queryEntity")


def test_a_proxied_source_beats_the_brokers_copy() -> None:
    """Clause 4.3.6.3: the broker holds no data of a proxied registration; an older copy it
    still has (from before the registration) loses to the source's, however recent."""
    local = ent({SPEED: [prop(1, observedAt="2027-01-01T00:00:00Z")], BRAND: [prop("l")]})
    source = ent({SPEED: [prop(2, observedAt="2026-01-01T00:00:00Z")]})
    merged = merge_entities([Part(local), Part(source, PROXIED)])
    assert merged["attrs"][SPEED][0]["value"] == 2 and merged["attrs"][BRAND][0]["value"] == "l"


def test_inclusive_merge_takes_the_most_recent_instance() -> None:
    """Clause 4.3.6.2 with 4.5.5: per attribute and datasetId, the most recent observedAt
    wins, then modifiedAt; on a tie the earlier part (local first)."""
    local = ent({SPEED: [prop(10, observedAt="2026-01-01T10:00:00Z")]})
    newer = ent({SPEED: [prop(20, observedAt="2026-01-01T11:00:00Z")], BRAND: [prop("x")]})
    older = ent({SPEED: [prop(5, observedAt="2026-01-01T09:00:00Z")]})
    merged = merge_entities([Part(local), Part(newer), Part(older)])
    assert merged["attrs"][SPEED][0]["value"] == 20
    assert merged["attrs"][BRAND][0]["value"] == "x"
    tie = merge_entities([Part(ent({SPEED: [prop(1)]})), Part(ent({SPEED: [prop(2)]}))])
    assert tie["attrs"][SPEED][0]["value"] == 1
    by_modified = merge_entities(
        [
            Part(ent({SPEED: [prop(1, modifiedAt="2026-01-01T10:00:00Z")]})),
            Part(ent({SPEED: [prop(2, modifiedAt="2026-01-02T10:00:00Z")]})),
        ]
    )
    assert by_modified["attrs"][SPEED][0]["value"] == 2


def test_datasets_merge_apart_and_types_unite() -> None:
    a = ent({SPEED: [prop(1, datasetId="urn:a")]}, ("T",))
    b = ent({SPEED: [prop(2, datasetId="urn:b"), prop(3)]}, ("T", "U"))
    merged = merge_entities([Part(a), Part(b)])
    assert sorted(i["value"] for i in merged["attrs"][SPEED]) == [1, 2, 3]
    assert merged["type"] == ["T", "U"]


def test_auxiliary_only_fills_gaps() -> None:
    """Clause 4.3.6.2: an auxiliary source's attribute is used only where no other source
    has it, however recent it is."""
    local = ent({SPEED: [prop(10, observedAt="2026-01-01T10:00:00Z")]})
    aux = ent({SPEED: [prop(99, observedAt="2027-01-01T00:00:00Z")], BRAND: [prop("aux")]})
    merged = merge_entities([Part(aux, AUXILIARY), Part(local)])
    assert merged["attrs"][SPEED][0]["value"] == 10
    assert merged["attrs"][BRAND][0]["value"] == "aux"


def test_merge_lists_keeps_each_id_once_in_first_seen_order() -> None:
    one = {"id": "urn:1", "type": ["T"], "attrs": {}}
    two = {"id": "urn:2", "type": ["T"], "attrs": {SPEED: [prop(2)]}}
    two_remote = {"id": "urn:2", "type": ["T"], "attrs": {BRAND: [prop("b")]}}
    three = {"id": "urn:3", "type": ["T"], "attrs": {}}
    out = merge_lists([([one, two], ADDITIVE), ([two_remote, three], ADDITIVE)])
    assert [e["id"] for e in out] == ["urn:1", "urn:2", "urn:3"]
    assert set(out[1]["attrs"]) == {SPEED, BRAND}


def test_via_loop_detection_and_hop_bound() -> None:
    """Loop detection (clause 4.3.6.5) on the Via header (RFC 9110 clause 7.6.3)."""
    assert via_names("1.1 hub-a, HTTP/1.1 proxy (comment)") == ["hub-a", "proxy"]
    assert via_value(None, "me") == "1.1 me"
    assert via_value("1.1 a", "me") == "1.1 a, 1.1 me"
    assert is_loop("1.1 a, 1.1 me", "me")
    assert not is_loop("1.1 a", "me") and not is_loop(None, "me")
    many = ", ".join(f"1.1 h{i}" for i in range(MAX_HOPS))
    assert is_loop(many, "me")


def test_warning_has_the_rfc_7234_form() -> None:
    """Clause 6.3.17: warn-code warn-agent "warn-text"."""
    text = warning(199, "http://user:pw@src.example:1026/x", 'said "no"')
    assert text == '199 src.example:1026 "said \\"no\\""'
    # a header value: printable ASCII, whatever an IRI or a message holds
    assert warning(299, "http://도시.kr", "등록\r\n") == '299 ??.kr "????"'


def test_allowed_hosts() -> None:
    hosts = AllowedHosts.parse("127.0.0.1, ::1,localhost, 10.20.0.0/16, Data.Go.KR")
    assert hosts.allow("http://127.0.0.1:1026")
    assert hosts.allow("http://[::1]:1026/ngsi-ld/v1")
    assert hosts.allow("https://localhost")
    assert hosts.allow("http://10.20.3.4:8080")
    assert hosts.allow("http://data.go.kr")
    assert not hosts.allow("http://10.21.0.1")
    assert not hosts.allow("http://169.254.169.254/latest/meta-data")
    assert not hosts.allow("http://127.0.0.2:1026")
    assert not hosts.allow("ftp://127.0.0.1/")
    assert not hosts.allow("http://127.0.0.1:notaport/")
    assert not hosts.allow("http://evil.example@10.21.0.1/")
    assert not AllowedHosts.parse("").allow("http://127.0.0.1")
    assert AllowedHosts.parse("*").allow("http://anything.example")
    with pytest.raises(ValueError, match="federation_allowed_hosts"):
        AllowedHosts.parse("http://x/")
