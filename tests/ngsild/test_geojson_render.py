"""The GeoJSON representation (ETSI GS CIM 009 v1.8.1, clauses 4.5.16 and 6.3.15; RFC 7946),
checked against the ETSI suite's expectation files (018_05, 019_05, 019_02_05)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cityhub.ngsild.geojson_render import (
    feature_geometries,
    feature_geometry,
    internal_geometry,
    render_feature,
    render_feature_collection,
)
from cityhub.ngsild.render import Projection, render_entity

CTX = "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/ngsi-ld-test-suite-compound.jsonld"  # noqa: E501
TS = "https://ngsi-ld-test-suite/context#"
NGSI = "https://uri.etsi.org/ngsi-ld/"


class Terms:
    """The test suite's context, enough of it for these entities."""

    def expand(self, term: str) -> str:
        return NGSI + term if term in ("location", "observationSpace") else TS + term

    def compact(self, iri: str) -> str:
        return iri.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def gp(value: dict[str, Any], **members: Any) -> list[dict[str, Any]]:
    return [{"type": "GeoProperty", "value": value, **members}]


def prop(value: Any, **members: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, **members}]


BUILDING: dict[str, Any] = {  # building-two-geometry-attributes.jsonld, internal form
    "id": "urn:ngsi-ld:Building:1",
    "type": [TS + "Building"],
    "attrs": {
        TS + "name": prop("Eiffel Tower"),
        TS + "subCategory": prop("tourism"),
        NGSI + "location": gp(point(13.3986, 52.5547)),
        NGSI + "observationSpace": gp(point(11.1111, 11.1111)),
    },
}
NORMALIZED_PROPERTIES = {
    "type": "Building",
    "name": {"type": "Property", "value": "Eiffel Tower"},
    "subCategory": {"type": "Property", "value": "tourism"},
    "location": {"type": "GeoProperty", "value": point(13.3986, 52.5547)},
    "observationSpace": {"type": "GeoProperty", "value": point(11.1111, 11.1111)},
}


def rendered(entity: dict[str, Any], fmt: str = "normalized") -> dict[str, Any]:
    return render_entity(entity, Terms(), Projection(format=fmt))


# -- clause 4.5.16.1 / 6.3.15: Retrieve Entity as a Feature (018_05_01..04) ------------------------


def test_018_05_01_simplified() -> None:
    assert render_feature(rendered(BUILDING, "keyValues"), None, [CTX]) == {
        "id": "urn:ngsi-ld:Building:1",
        "type": "Feature",
        "geometry": point(13.3986, 52.5547),
        "properties": {
            "type": "Building",
            "name": "Eiffel Tower",
            "subCategory": "tourism",
            "location": point(13.3986, 52.5547),
            "observationSpace": point(11.1111, 11.1111),
        },
        "@context": [CTX],
    }


def test_018_05_02_normalized() -> None:
    assert render_feature(rendered(BUILDING), "", [CTX]) == {
        "id": "urn:ngsi-ld:Building:1",
        "type": "Feature",
        "geometry": point(13.3986, 52.5547),
        "properties": NORMALIZED_PROPERTIES,
        "@context": [CTX],
    }


def test_018_05_03_geometry_property_chooses_the_geometry() -> None:
    feature = render_feature(rendered(BUILDING), "observationSpace", [CTX])
    assert feature["geometry"] == point(11.1111, 11.1111)
    assert feature["properties"] == NORMALIZED_PROPERTIES  # the chosen one stays there too


def test_018_05_04_a_nonexistent_geometry_property_gives_null() -> None:
    feature = render_feature(rendered(BUILDING), "operationSpace", CTX)
    assert feature == {
        "id": "urn:ngsi-ld:Building:1",
        "type": "Feature",
        "geometry": None,
        "properties": NORMALIZED_PROPERTIES,
        "@context": CTX,
    }


def test_member_order_and_json_shape() -> None:
    text = orjson.dumps(render_feature(rendered(BUILDING), None, CTX)).decode()
    assert text.startswith('{"id":"urn:ngsi-ld:Building:1","type":"Feature","geometry":')
    assert list(orjson.loads(text)) == ["id", "type", "geometry", "properties", "@context"]


# -- clause 4.5.16.2: Query Entities as a FeatureCollection (019_05, 019_02_05) -------------------

VEHICLE = {  # vehicle-simple-attributes.jsonld: no location at all
    "id": "urn:ngsi-ld:Vehicle:019-02-05",
    "type": [TS + "Vehicle"],
    "attrs": {
        TS + "brandName": prop("Mercedes"),
        TS + "isParked": [
            {
                "type": "Relationship",
                "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
                "observedAt": "2017-07-29T12:00:04Z",
                TS + "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"},
            }
        ],
    },
}
PARKING = {  # parking-simple-attributes.jsonld
    "id": "urn:ngsi-ld:OffStreetParking:019-02-05",
    "type": [TS + "OffStreetParking"],
    "attrs": {
        TS + "name": prop("Downtown One"),
        TS + "availableSpotNumber": prop(
            121,
            observedAt="2017-07-29T12:05:02Z",
            **{
                TS + "reliability": {"type": "Property", "value": 0.7},
                TS + "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Camera:C1"},
            },
        ),
        TS + "totalSpotNumber": prop(200),
        NGSI + "location": gp(point(-8.5, 41.2)),
    },
}


def test_019_02_05_feature_collection() -> None:
    # vehicle-parking-019-02-05.geojson: @context once, at the top
    body = render_feature_collection([rendered(VEHICLE), rendered(PARKING)], None, CTX)
    assert body == {
        "type": "FeatureCollection",
        "features": [
            {
                "id": "urn:ngsi-ld:Vehicle:019-02-05",
                "type": "Feature",
                "geometry": None,
                "properties": {
                    "type": "Vehicle",
                    "brandName": {"type": "Property", "value": "Mercedes"},
                    "isParked": {
                        "type": "Relationship",
                        "providedBy": {
                            "type": "Relationship",
                            "object": "urn:ngsi-ld:Person:Bob",
                        },
                        "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
                        "observedAt": "2017-07-29T12:00:04Z",
                    },
                },
            },
            {
                "id": "urn:ngsi-ld:OffStreetParking:019-02-05",
                "type": "Feature",
                "geometry": point(-8.5, 41.2),
                "properties": {
                    "type": "OffStreetParking",
                    "name": {"type": "Property", "value": "Downtown One"},
                    "availableSpotNumber": {
                        "type": "Property",
                        "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Camera:C1"},
                        "reliability": {"type": "Property", "value": 0.7},
                        "value": 121,
                        "observedAt": "2017-07-29T12:05:02Z",
                    },
                    "totalSpotNumber": {"type": "Property", "value": 200},
                    "location": {"type": "GeoProperty", "value": point(-8.5, 41.2)},
                },
            },
        ],
        "@context": CTX,
    }


def test_019_05_two_buildings_and_features_drop_their_own_context() -> None:
    a = dict(rendered(BUILDING), id="urn:ngsi-ld:Building:019-05-01", **{"@context": CTX})
    body = render_feature_collection([a], "location", CTX)
    assert "@context" not in body["features"][0]
    assert body["@context"] == CTX
    assert body["features"][0]["id"] == "urn:ngsi-ld:Building:019-05-01"


def test_an_empty_result_is_an_empty_collection() -> None:
    assert render_feature_collection([]) == {"type": "FeatureCollection", "features": []}


# -- every format: concise, sub-attributes, several instances, other attribute types --------


def test_concise_with_and_without_sub_attributes() -> None:
    entity = dict(BUILDING)
    entity["attrs"] = dict(
        BUILDING["attrs"],
        **{NGSI + "location": gp(point(1, 2), observedAt="2024-01-01T00:00:00Z")},
    )
    r = rendered(entity, "concise")
    assert render_feature(r)["geometry"] == point(1, 2)
    assert render_feature(r, "observationSpace")["geometry"] == point(11.1111, 11.1111)
    assert render_feature(r)["properties"]["location"]["observedAt"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("fmt", ["normalized", "concise", "keyValues"])
def test_the_default_instance_wins_among_several(fmt: str) -> None:
    entity = {
        "id": "urn:x:1",
        "type": [TS + "T"],
        "attrs": {
            NGSI + "location": [
                {"type": "GeoProperty", "value": point(5, 5), "datasetId": "urn:ngsi-ld:Dataset:a"},
                {"type": "GeoProperty", "value": point(1, 1)},
            ]
        },
    }
    expected = point(5, 5) if fmt == "keyValues" else point(1, 1)  # keyValues has no datasetId
    assert render_feature(rendered(entity, fmt))["geometry"] == expected
    assert internal_geometry(entity, NGSI + "location") == point(1, 1)


def test_only_a_geoproperty_is_a_geometry() -> None:
    entity = {
        "id": "urn:x:1",
        "type": [TS + "T"],
        "attrs": {TS + "shape": prop(point(1, 1)), TS + "name": prop("x")},
    }
    assert render_feature(rendered(entity), "shape")["geometry"] is None
    assert render_feature(rendered(entity), "name")["geometry"] is None
    assert feature_geometry({"type": "GeoProperty", "value": {"type": "Point"}}) is None
    assert feature_geometry("text") is None


def test_a_geometry_projected_away_can_be_given_by_the_caller() -> None:
    r = render_entity(BUILDING, Terms(), Projection(attrs={TS + "name"}))
    assert render_feature(r)["geometry"] is None
    chosen = internal_geometry(BUILDING, NGSI + "location")
    feature = render_feature(r, geometry=chosen)
    assert feature["geometry"] == point(13.3986, 52.5547)
    assert "location" not in feature["properties"]


def test_system_attributes_and_scope_are_properties() -> None:
    entity = dict(BUILDING, scope=["/Seoul"], createdAt="2024-01-01T00:00:00Z")
    r = render_entity(entity, Terms(), Projection(sys_attrs=True))
    props = render_feature(r)["properties"]
    assert props["scope"] == "/Seoul" and props["createdAt"] == "2024-01-01T00:00:00Z"
    assert "id" not in props


def test_feature_geometries_come_from_the_geometry_property_whatever_the_projection() -> None:
    """Clause 4.5.16: attrs/pick/omit choose the properties; the geometry is the
    geometryProperty's, taken from the stored entity when the rendering left it out."""
    kept = render_entity(BUILDING, Terms(), Projection(attrs={NGSI + "location"}))
    dropped = render_entity(BUILDING, Terms(), Projection(attrs={TS + "name"}))
    bare = {"id": "urn:x:2", "type": [TS + "T"], "attrs": {TS + "name": prop("x")}}
    pairs = [
        (BUILDING, kept),
        (BUILDING, dropped),
        (bare, render_entity(bare, Terms(), Projection())),
    ]
    geometries = feature_geometries(pairs, NGSI + "location")
    assert geometries == [point(13.3986, 52.5547), point(13.3986, 52.5547), None]
    other = feature_geometries(pairs, NGSI + "observationSpace", "observationSpace")
    assert other == [point(11.1111, 11.1111), point(11.1111, 11.1111), None]
    collection = render_feature_collection([d for _, d in pairs], geometries=geometries)
    assert [f["geometry"] for f in collection["features"]] == geometries
    assert "location" not in collection["features"][1]["properties"]
    with pytest.raises(ValueError):  # one geometry per entity
        render_feature_collection([kept], geometries=[])
