"""Lenient parsing that hid mistakes (issue 22, item 7): each is now a 400 ProblemDetails whose
detail names the parameter, on both backends, except where the spec gives the input a meaning
(``aggrPeriodDuration=PT0S``, clause 4.5.19.1). Clauses of ETSI GS CIM 009 v1.8.1 next to
each test."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.api.routing import ApiRequest
from cityhub.errors import InvalidRequest
from tests.conftest import entity

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
AQ = "urn:ngsi-ld:AirQualityObserved:1"
BOWTIE = [[[127.10, 37.40], [127.12, 37.42], [127.12, 37.40], [127.10, 37.42], [127.10, 37.40]]]
SQUARE = [[[127.0, 37.3], [127.2, 37.3], [127.2, 37.5], [127.0, 37.5], [127.0, 37.3]]]


def refused(r: Any, name: str, kind: str = "BadRequestData") -> str:
    """A 400 ProblemDetails of ``kind`` whose detail names ``name``; its detail."""
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["type"] == ERR + kind and body["status"] == 400
    assert name in body["detail"], body["detail"]
    detail: str = body["detail"]
    return detail


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.post(E, json=entity(AQ)).status_code == 201
    return client


# -- numbers: ASCII digits only (int() and float() read "１", "١", "1_0" too) -----------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "\uff11"),  # fullwidth 1
        ("limit", "\u0661"),  # Arabic-Indic 1
        ("limit", "\u00b9"),  # superscript 1
        ("offset", "\uff10"),
        ("limit", "1_0"),
        ("limit", " 1"),
        ("joinLevel", "\uff12"),
    ],
)
# clause 6.4.3.2 (limit, offset: integers), 4.5.23 (joinLevel)
def test_a_number_in_other_digits_is_refused(seeded: TestClient, name: str, value: str) -> None:
    r = seeded.get(E, params={"type": "AirQualityObserved", name: value})
    refused(r, name)


@pytest.mark.parametrize("value", ["\uff11\uff10", "1_000", "+10", " 10", "1e999", "nan"])
# clause 4.10: maxDistance is a number of metres
def test_a_distance_in_other_digits_is_refused(seeded: TestClient, value: str) -> None:
    params = {
        "type": "AirQualityObserved",
        "georel": f"near;maxDistance=={value}",
        "geometry": "Point",
        "coordinates": "[127.1,37.4]",
    }
    refused(seeded.get(E, params=params), "maxDistance")
    params["georel"] = "near;maxDistance==10.5e2"  # an ordinary number still is one
    assert [e["id"] for e in seeded.get(E, params=params).json()] == [AQ]


@pytest.mark.parametrize("value", ["yes", "True", "1", ""])
def test_a_flag_is_true_or_false(seeded: TestClient, value: str) -> None:
    """``local=yes`` used to mean false, silently (and with a type it was not even read)."""
    refused(seeded.get(E, params={"type": "AirQualityObserved", "local": value}), "local")
    refused(seeded.delete(E, params={"type": "AirQualityObserved", "local": value}), "local")
    assert seeded.get(E, params={"local": "true"}).status_code == 200


# -- the query string itself: RFC 3986 clause 2.1, one value per parameter ----------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("type=%ZZ", "URL parameter type"),
        ("type=Air%", "URL parameter type"),
        ("type=%E2%82", "URL parameter type"),  # a cut UTF-8 sequence
        ("type=%FF", "URL parameter type"),  # not UTF-8
        ("q=pm25%3E%G1&type=AirQualityObserved", "URL parameter q"),
    ],
)
def test_a_malformed_escape_is_refused(seeded: TestClient, query: str, name: str) -> None:
    refused(seeded.get(f"{E}?{query}"), name, "InvalidRequest")


@pytest.mark.parametrize(
    "query",
    [
        "type=AirQualityObserved&type=Streetlight",
        "type=AirQualityObserved&limit=1&limit=2",
        "type=AirQualityObserved&attrs=pm25&attrs=location",
        "type=AirQualityObserved&q=pm25>1&q=pm25<1",
        "type=AirQualityObserved&limit=1&limit=1",  # even when they agree
    ],
)
# clause 6.4.3.2: a list is one comma-separated value (type=A,B), so a repeated parameter is a
# mistake; Starlette kept the last and dropped the other unseen
def test_a_repeated_parameter_is_refused(seeded: TestClient, query: str) -> None:
    name = query.split("&")[-1].partition("=")[0]
    detail = refused(seeded.get(f"{E}?{query}"), f"URL parameter {name}", "InvalidRequest")
    assert "more than once" in detail


def test_repeated_parameters_are_refused_on_every_kind_of_route(seeded: TestClient) -> None:
    refused(seeded.get(f"{E}/{AQ}?attrs=pm25&attrs=location"), "attrs", "InvalidRequest")
    refused(seeded.get(f"{T}/{AQ}?lastN=1&lastN=2"), "lastN", "InvalidRequest")
    query = "/ngsi-ld/v1/entityOperations/query?limit=1&limit=2"
    body = {"type": "Query", "entities": [{"type": "AirQualityObserved"}]}
    refused(seeded.post(query, json=body), "limit", "InvalidRequest")
    refused(seeded.get("/ngsi-ld/v1/subscriptions?limit=1&limit=2"), "limit", "InvalidRequest")


def test_a_list_in_one_parameter_still_works(seeded: TestClient) -> None:
    r = seeded.get(E, params={"type": "AirQualityObserved,Streetlight", "attrs": "pm25,location"})
    assert [e["id"] for e in r.json()] == [AQ]


def test_raw_utf8_in_the_query_string_is_read_as_utf8() -> None:
    """curl sends ``?id=...성남`` as raw UTF-8 bytes; latin-1 made them mojibake that matched
    nothing. Bytes that are not UTF-8 are refused."""

    def params(raw: bytes) -> Any:
        return ApiRequest({"type": "http", "query_string": raw, "headers": []}).query_params

    assert params('id=urn:ngsi-ld:T:성남&q=name=="정자동"'.encode())["id"] == ("urn:ngsi-ld:T:성남")
    assert params(b"id=urn:ngsi-ld:T:%EC%84%B1").get("id") == "urn:ngsi-ld:T:성"
    with pytest.raises(InvalidRequest, match="not UTF-8"):
        params(b"id=urn:ngsi-ld:T:\xe9")


# -- date-times and durations ---------------------------------------------------------------------


@pytest.fixture
def history(client: TestClient) -> TestClient:
    body = {
        "id": AQ,
        "type": "AirQualityObserved",
        "pm25": [
            {"type": "Property", "value": 10, "observedAt": "2026-01-14T00:30:00Z"},
            {"type": "Property", "value": 20, "observedAt": "2026-01-14T09:30:00Z"},
        ],
    }
    assert client.post(T, json=body).status_code == 201
    return client


@pytest.mark.parametrize(
    "params",
    [
        {"timerel": "after", "timeAt": "2026-01-14T09:00:00"},
        {"timerel": "before", "timeAt": "2026-01-14T09:00"},
        {"timerel": "between", "timeAt": "2026-01-14T00:00:00Z", "endTimeAt": "2026-01-15T00:00"},
    ],
)
# clause 4.6.3: NGSI-LD date-times are UTC; without Z or an offset ISO 8601 reads a local time
# of an unknown place, which the hub used to take as UTC (nine hours off in Seongnam)
def test_a_time_without_a_zone_is_refused(history: TestClient, params: dict[str, str]) -> None:
    name = "endTimeAt" if "endTimeAt" in params else "timeAt"
    detail = refused(history.get(T, params={"type": "AirQualityObserved", **params}), name)
    assert "time zone" in detail
    refused(history.get(f"{T}/{AQ}", params=params), name)
    query = {"type": "Query", "entities": [{"type": "AirQualityObserved"}], "temporalQ": params}
    refused(history.post("/ngsi-ld/v1/temporal/entityOperations/query", json=query), name)


def test_a_time_with_an_offset_is_that_instant(history: TestClient) -> None:
    """2026-01-14T18:00+09:00 is 09:00Z: only the 09:30Z reading is after it."""
    r = history.get(f"{T}/{AQ}", params={"timerel": "after", "timeAt": "2026-01-14T18:00+09:00"})
    assert [i["value"] for i in r.json()["pm25"]] == [20]


@pytest.mark.parametrize(
    "value", ["\uff12\uff10\uff12\uff16-01-14T09:00:00Z", "2026-01-14T09:00:00\uff3a"]
)
def test_a_time_in_other_digits_is_refused(history: TestClient, value: str) -> None:
    refused(history.get(f"{T}/{AQ}", params={"timerel": "after", "timeAt": value}), "timeAt")


def test_a_subscription_temporal_query_needs_a_zone(client: TestClient) -> None:
    sub = {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        "temporalQ": {"timerel": "after", "timeAt": "2026-01-14T09:00:00"},
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
    }
    refused(client.post("/ngsi-ld/v1/subscriptions", json=sub), "temporalQ.timeAt")
    sub["temporalQ"] = {"timerel": "after", "timeAt": "2026-01-14T09:00:00Z"}
    assert client.post("/ngsi-ld/v1/subscriptions", json=sub).status_code == 201


def _aggregated(duration: str) -> dict[str, str]:
    return {
        "options": "aggregatedValues",
        "aggrMethods": "sum",
        "aggrPeriodDuration": duration,
        "timerel": "between",
        "timeAt": "2026-01-14T00:00:00Z",
        "endTimeAt": "2026-01-15T00:00:00Z",
    }


# clause 4.5.19.1: "a duration of 0 seconds (PT0S, P0D) is valid": one period over the whole
# time range of the query; so zero stays accepted, with that meaning
@pytest.mark.parametrize("zero", ["PT0S", "P0D", "P0Y0M0DT0H0M0.0S"])
def test_a_zero_period_is_the_whole_range(history: TestClient, zero: str) -> None:
    doc = history.get(f"{T}/{AQ}", params=_aggregated(zero)).json()
    assert doc["pm25"]["sum"] == [[30.0, "2026-01-14T00:00:00Z", "2026-01-15T00:00:00Z"]]


@pytest.mark.parametrize(
    "value",
    [
        "PT\uff11H",  # fullwidth 1
        "-PT1H",  # negative: no sign in the clause's grammar
        "PT0.0000001S",  # not zero, but below the microsecond: it used to mean "whole range"
        "P" + "9" * 5000 + "D",  # int() refuses over 4,300 digits: this was a 500
        "PT1.5H",
        "P",
        "PT",
    ],
)
def test_a_bad_period_is_refused(history: TestClient, value: str) -> None:
    refused(history.get(f"{T}/{AQ}", params=_aggregated(value)), "aggrPeriodDuration")


# -- geometries: RFC 7946 clause 3.1.6 (a linear ring bounds a surface), OGC validity ----------


def test_a_self_crossing_polygon_is_refused_in_payloads(client: TestClient) -> None:
    bowtie = {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": BOWTIE}}
    eid = "urn:ngsi-ld:AdministrativeArea:x"
    body = {"id": eid, "type": "AdministrativeArea", "location": bowtie}
    detail = refused(client.post(E, json=body), "location")
    assert "not a valid area" in detail and "Self-intersection" in detail
    assert client.get(f"{E}/{eid}").status_code == 404  # nothing was written
    square = {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": SQUARE}}
    assert client.post(E, json={**body, "location": square}).status_code == 201
    refused(client.post(f"{E}/{eid}/attrs", json={"area": bowtie}), "area")
    refused(client.patch(f"{E}/{eid}/attrs/location", json=bowtie), "location")
    other = {"id": "urn:ngsi-ld:AdministrativeArea:y", "type": "AdministrativeArea"}
    batch = [{**body, "location": bowtie}, other]
    r = client.post("/ngsi-ld/v1/entityOperations/upsert", json=batch)  # clause 5.6.8: 207
    assert r.status_code == 207 and r.json()["success"] == [other["id"]], r.text
    (error,) = r.json()["errors"]
    assert error["entityId"] == eid and "not a valid area" in error["error"]["detail"]
    assert client.get(f"{E}/{eid}").json()["location"]["value"]["coordinates"] == SQUARE
    multi = {"type": "MultiPolygon", "coordinates": [SQUARE, SQUARE]}  # overlapping polygons
    refused(
        client.post(f"{E}/{eid}/attrs", json={"zones": {"type": "GeoProperty", "value": multi}}),
        "zones",
    )


def test_a_self_crossing_polygon_is_refused_in_geo_queries(seeded: TestClient) -> None:
    import orjson

    coordinates = orjson.dumps(BOWTIE).decode()
    params = {
        "type": "AirQualityObserved",
        "georel": "within",
        "geometry": "Polygon",
        "coordinates": coordinates,
    }
    assert "not a valid area" in refused(seeded.get(E, params=params), "coordinates")
    geo_q = {"georel": "within", "geometry": "Polygon", "coordinates": BOWTIE}
    query = {"type": "Query", "entities": [{"type": "AirQualityObserved"}], "geoQ": geo_q}
    refused(seeded.post("/ngsi-ld/v1/entityOperations/query", json=query), "coordinates")
    sub = {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        "geoQ": geo_q,
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
    }
    refused(seeded.post("/ngsi-ld/v1/subscriptions", json=sub), "coordinates")
    params["coordinates"] = orjson.dumps(SQUARE).decode()  # a valid area still queries
    assert [e["id"] for e in seeded.get(E, params=params).json()] == [AQ]


def test_a_self_crossing_polygon_is_refused_in_registrations(client: TestClient) -> None:
    registration = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "AirQualityObserved"}]}],
        "endpoint": "http://127.0.0.1:9/source",
        "location": {"type": "Polygon", "coordinates": BOWTIE},
    }
    detail = refused(client.post("/ngsi-ld/v1/csourceRegistrations", json=registration), "location")
    assert "not a valid area" in detail
    registration["location"] = {"type": "Polygon", "coordinates": SQUARE}
    assert client.post("/ngsi-ld/v1/csourceRegistrations", json=registration).status_code == 201
