"""Discovery: ETSI GS CIM 009 v1.8.1 clause 5.10.2 (q/csf 4.9, geo-queries 4.10, temporal 4.11)."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild import registration_query as rq
from cityhub.ngsild.query.geo import expand_geo, parse_geo_query
from cityhub.ngsild.temporal import TemporalQuery, parse_temporal_query
from tests.ngsild.test_registration import DEFAULT, EX, TERMS, expand


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
    q = rq.RegistrationQuery
    assert rq.matches_registration(doc, q(types=(building,)))
    assert not rq.matches_registration(doc, q(types=(DEFAULT + "Car",)))
    # type and attribute must come from the same RegistrationInfo... but an info without
    # attribute names covers every attribute
    assert rq.matches_registration(doc, q(types=(building,), attrs=(name,)))
    assert not rq.matches_registration(doc, q(types=(building,), attrs=(DEFAULT + "x",)))
    assert rq.matches_registration(doc, q(types=(parking,), attrs=(DEFAULT + "x",)))
    assert rq.matches_registration(doc, q(ids=("urn:p:downtown",), types=(parking,)))
    assert not rq.matches_registration(doc, q(ids=("urn:p:uptown",), types=(parking,)))
    assert rq.matches_registration(doc, q(id_pattern="^urn:b", types=(building,)))


def test_info_without_entities_matches_every_entity() -> None:
    doc = registration([{"propertyNames": ["name"]}])
    query = rq.RegistrationQuery(types=(DEFAULT + "Parking",), id_pattern=".*downtown$")
    assert rq.matches_registration(doc, query)


def test_q_csf_on_csource_properties() -> None:
    doc = expand(csourceProperty1="aValue", level=3)
    q = rq.parse_registration_q('csourceProperty1=="aValue";level>2', TERMS.expand)
    assert rq.matches_registration(doc, rq.RegistrationQuery(q=q))
    miss = rq.parse_registration_q("level<3|csourceProperty1~=^b", TERMS.expand)
    assert not rq.matches_registration(doc, rq.RegistrationQuery(csf=miss))
    exists = rq.parse_registration_q("level", TERMS.expand)
    assert rq.matches_registration(doc, rq.RegistrationQuery(q=exists))
    listed = rq.parse_registration_q("level==1,3", TERMS.expand)
    assert rq.matches_registration(doc, rq.RegistrationQuery(q=listed))


def test_geo_query_on_location() -> None:
    doc = expand(location={"type": "Point", "coordinates": [-8.521, 41.2]})
    geo = parse_geo_query("near;maxDistance==2000", "Point", "[-8.503,41.202]", None)
    assert geo is not None
    assert rq.matches_registration(doc, rq.RegistrationQuery(geo=expand_geo(geo, TERMS.expand)))
    far = parse_geo_query("near;maxDistance==20", "Point", "[-8.503,41.202]", "location")
    assert far is not None
    assert not rq.matches_registration(doc, rq.RegistrationQuery(geo=expand_geo(far, TERMS.expand)))


def _temporal(*args: Any) -> TemporalQuery | None:
    return rq.registration_temporal_query(parse_temporal_query(*args))


# 4.11 / 5.10.2: temporal queries match observationInterval (observedAt) or managementInterval
def test_temporal_query() -> None:
    interval = {"startAt": "2020-08-01T22:07:00Z", "endAt": "2021-08-01T21:07:00Z"}
    doc = expand(observationInterval=interval)
    before = _temporal("before", "2021-08-01T22:00:00Z")
    after = _temporal("after", "2021-08-01T22:00:00Z")
    managed = _temporal("before", "2021-08-01T22:00:00Z", None, "createdAt")
    between = _temporal("between", "2019-01-01T00:00:00Z", "2020-09-01T00:00:00Z")
    assert rq.matches_registration(doc, rq.RegistrationQuery(temporal=before))
    assert not rq.matches_registration(doc, rq.RegistrationQuery(temporal=after))
    assert not rq.matches_registration(doc, rq.RegistrationQuery(temporal=managed))
    assert rq.matches_registration(doc, rq.RegistrationQuery(temporal=between))


@pytest.mark.parametrize(
    "args",
    [
        ("before", None),
        ("sometime", "2020-01-01T00:00:00Z"),
        ("between", "2020-01-01T00:00:00Z"),
        ("after", "2020-01-01T00:00:00Z", None, "expiresAt"),
        (None, "yesterday"),
        (None, None, "2020-01-01T00:00:00Z"),
        ("between", "2020-01-01T00:00:00Z", "2019-01-01T00:00:00Z"),
        # 5.10.2: no registration member records deletedAt
        ("before", "2020-01-01T00:00:00Z", None, "deletedAt"),
    ],
)
def test_bad_temporal_query(args: tuple[Any, ...]) -> None:
    with pytest.raises(BadRequestData):
        _temporal(*args)


# one TemporalQuery (cityhub.ngsild.temporal) for the temporal API and discovery: absent
# timerel is no temporal filter; the times are normalized (UTC, microseconds) and compare with
# a registration's intervals as instants, whatever offset either side was written with
def test_one_temporal_query_for_discovery() -> None:
    assert _temporal(None, None) is None
    assert _temporal("", "", "", "createdAt") is None
    interval = {"startAt": "2020-08-02T07:07:00+09:00"}  # 2020-08-01T22:07:00Z
    doc = expand(managementInterval=interval)
    just_before = _temporal("before", "2020-08-01T22:07:00.000001Z", None, "modifiedAt")
    assert just_before is not None and just_before.time_at == "2020-08-01T22:07:00.000001Z"
    assert rq.matches_registration(doc, rq.RegistrationQuery(temporal=just_before))
    at_start = _temporal("before", "2020-08-01T23:07:00+01:00", None, "createdAt")
    assert not rq.matches_registration(doc, rq.RegistrationQuery(temporal=at_start))


def test_q_negated_existence_on_csource_properties() -> None:  # clause 4.9 (v1.9.1) "!attr"
    doc = expand(csourceProperty1="aValue", level=3)
    absent = rq.parse_registration_q("!missing;level", TERMS.expand)
    assert rq.matches_registration(doc, rq.RegistrationQuery(q=absent))
    present = rq.parse_registration_q("!level", TERMS.expand)
    assert not rq.matches_registration(doc, rq.RegistrationQuery(q=present))
