"""The q, scopeQ and type query cases (clauses 4.9, 4.17, 4.19) and the dozen entities they run
on: shared by the SQLite compiler's unit tests (test_q_compile.py) and the store contract suite
(contract/test_q.py), which runs them on every backend. Each case is (query text, the numbers of
the entities ``urn:E:<n>`` it matches)."""

from __future__ import annotations

from typing import Any

EX = "https://ex.org/"


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def rel(obj: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj, **members}


# number -> (types, scopes, attributes by term); terms become EX + term, as an @context would
ENTITIES: dict[int, tuple[list[str], list[str] | None, dict[str, list[dict[str, Any]]]]] = {
    1: (
        ["Building"],
        ["/Madrid/Gardens/ParqueNorte"],
        {
            "name": [prop("Pisa Tower")],
            "airQualityLevel": [prop(6, unitCode="C62", observedAt="2020-10-10T16:40:00.000Z")],
            "almostFull": [prop(True)],
        },
    ),
    2: (
        ["Building"],
        None,
        {
            "name": [prop("Pisa Tower")],
            # stored with an offset: it is 16:40Z
            "airQualityLevel": [prop(7, unitCode="C62", observedAt="2023-10-10T18:40:00+02:00")],
            "almostFull": [prop(False)],
            "locatedIn": [rel("urn:ngsi-ld:City:Pisa")],
        },
    ),
    3: (
        ["Building", "Home"],
        ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"],
        {
            "name": [prop("Eiffel Tower")],
            "airQualityLevel": [prop(4, observedAt="2020-09-09T16:40:00Z")],
            "almostFull": [prop(False)],
        },
    ),
    4: (
        ["Vehicle"],
        None,
        {
            "airQualityLevel": [prop("6")],  # a string, never a number
            "speed": [
                prop(50, datasetId="urn:ds:gps"),
                prop(120, datasetId="urn:ds:radar"),
            ],
        },
    ),
    5: (
        ["Street"],
        None,
        {
            "street": [
                {
                    "type": "LanguageProperty",
                    "languageMap": {"en": "Main Street", "fr": "Rue Principale"},
                }
            ],
            "alias": [{"type": "LanguageProperty", "languageMap": {"en": ["Big Road", "Highway"]}}],
            "category": [{"type": "VocabProperty", "vocab": EX + "Commercial"}],
        },
    ),
    6: (
        ["Building"],
        ["/a_b/c%d"],
        {
            "address": [
                prop({"streetAddress": "Calle Mayor 1", "city": {"name": "Madrid", "zip": "28001"}})
            ],
            "tags": [prop(["red", "green"])],
        },
    ),
    7: (
        ["Device"],
        None,
        {
            "config": [{"type": "JsonProperty", "json": {"mode": "eco", "levels": [1, 2]}}],
            "readings": [{"type": "ListProperty", "valueList": [1.5, 2.5, 3.5]}],
        },
    ),
    8: (
        ["Vehicle"],
        None,
        {
            "neighbours": [
                {
                    "type": "ListRelationship",
                    "objectList": [{"object": "urn:A"}, {"object": "urn:B"}],
                }
            ],
            "owners": [rel(["urn:P:1", "urn:P:2"])],
        },
    ),
    9: (
        ["Device"],
        None,
        {
            "temperature": [
                prop(
                    21.5,
                    **{
                        EX + "providedBy": rel("urn:Sensor:1", **{EX + "since": prop(2019)}),
                        EX + "accuracy": prop(0.5, observedAt="2024-05-01T09:00:00Z"),
                    },
                )
            ],
            "dateObserved": [prop("2024-05-01T09:00:00Z")],
            "birth": [prop({"@type": "DateTime", "@value": "2001-02-03T04:05:06Z"})],
        },
    ),
    10: (
        ["Thing"],
        None,
        {
            "https://ex.org/v1.2/ns#level": [prop(3)],
            "note": [prop("x') OR 1=1 --")],
            "it's": [prop("quote")],
        },
    ),
    11: (["Thing"], None, {}),
    12: (
        ["Thing"],
        None,
        {
            "name": [prop(5)],
            "flag": [prop(1)],
            "empty": [prop([])],
            "almostFull": [prop("true")],
        },
    ),
}


def _expand(term: str) -> str:
    return term if ":" in term else EX + term


def expand(term: str) -> str:
    """A term as an @context would expand it."""
    return term if ":" in term else EX + term


ETSI_CASES: list[tuple[str, set[int]]] = [
    ("airQualityLevel==6", {1}),
    ('name=="Eiffel Tower"', {3}),
    ('name=="Pisa Tower";almostFull==false', {2}),
    ('name=="Pisa Tower"|almostFull==false', {1, 2, 3}),
    ('(name=="Pisa Tower"|name=="Eiffel Tower");almostFull==false', {2, 3}),
    ("airQualityLevel==4", {3}),
    ("airQualityLevel>=4;airQualityLevel<7", {1, 3}),
    ("locatedIn==urn:ngsi-ld:City:Pisa", {2}),
    ("locatedIn==urn:ngsi-ld:City:Paris", set()),
    ("locatedIn==urn:ngsi-ld:City:Pisa|locatedIn==urn:ngsi-ld:City:Paris", {2}),
]


COMPARISON_CASES: list[tuple[str, set[int]]] = [
    ("airQualityLevel>5", {1, 2}),
    ("airQualityLevel<=4", {3}),
    ('airQualityLevel=="6"', {4}),
    ('airQualityLevel>"5"', {4}),
    ("airQualityLevel!=6", {2, 3, 4}),
    ("almostFull==true", {1}),
    ("almostFull!=true", {2, 3, 12}),
    ('almostFull=="true"', {12}),
    ("flag==true", set()),
    ("flag==1", {12}),
    ("name==5", {12}),
    ("name==5.0", {12}),
    ('name>"P"', {1, 2}),
    ("temperature==21.5", {9}),
    ("temperature>21", {9}),
]


RANGE_AND_LIST_CASES: list[tuple[str, set[int]]] = [
    ("airQualityLevel==4..6", {1, 3}),
    ("airQualityLevel!=4..6", {2, 4}),
    ("readings==2..3", {7}),
    ("readings==4..5", set()),
    ('name=="A".."F"', {3}),
    ("airQualityLevel==4,7", {2, 3}),
    ("airQualityLevel!=4,7", {1, 4}),
    ('name=="Pisa Tower","Eiffel Tower"', {1, 2, 3}),
    ('name==5,"Eiffel Tower"', {3, 12}),
    ("airQualityLevel.observedAt==2020-01-01T00:00:00Z..2020-12-31T00:00:00Z", {1, 3}),
]


REGEX_CASES: list[tuple[str, set[int]]] = [
    ('name~="^Pisa"', {1, 2}),
    ('name~="(?i)eiffel"', {3}),
    ("name~=Tower$", {1, 2, 3}),
    ('name!~="^Pisa"', {3, 12}),
    ('street~="^Main"', {5}),
    ("locatedIn~=Pisa", {2}),
    ('missing!~="x"', set()),
]


PATH_CASES: list[tuple[str, set[int]]] = [
    ('airQualityLevel.unitCode=="C62"', {1, 2}),
    ("airQualityLevel.observedAt>2021-01-01T00:00:00Z", {2}),
    ("airQualityLevel.observedAt==2023-10-10T16:40:00Z", {2}),
    ("airQualityLevel.observedAt==2023-10-10T18:40:00.000+02:00", {2}),
    ("airQualityLevel.observedAt<2020-10-01T00:00:00Z", {3}),
    ("airQualityLevel.observedAt", {1, 2, 3}),
    ("speed.datasetId==urn:ds:radar", {4}),
    ("speed>100", {4}),
    ("speed<60", {4}),
    ("speed>200", set()),
    ("speed!=50", {4}),
    ("temperature.providedBy==urn:Sensor:1", {9}),
    ("temperature.providedBy", {9}),
    ("temperature.accuracy<1", {9}),
    ("temperature.accuracy.observedAt==2024-05-01T11:00:00+02:00", {9}),
    ("temperature.providedBy.since==2019", {9}),
    ("temperature.nothere", set()),
    ("temperature.value==21.5", {9}),
    ("https://ex.org/v1.2/ns#level==3", {10}),
    ("https://ex.org/v1.2/ns#level.observedAt", set()),
]


COMPOUND_CASES: list[tuple[str, set[int]]] = [
    ('address[city][name]=="Madrid"', {6}),
    ('address[streetAddress]~="Mayor"', {6}),
    ("address[city]", {6}),
    ("address[country]", set()),
    ('address[city]=="Madrid"', set()),
    ('address=="Madrid"', set()),
    ('config[mode]=="eco"', {7}),
    ("config[levels]==2", {7}),
    ('tags=="red"', {6}),
    ('tags!="blue"', {6}),
    ('tags!="red"', set()),
    ("owners==urn:P:2", {8}),
    ("neighbours==urn:B", {8}),
    ("neighbours==urn:C", set()),
    ("empty", {12}),
    ("neighbours.objectList[x]", set()),
    ("neighbours.objectList", {8}),
    # a languageMap or objectList member alone (found by test_q_fuzz: "no such column" before)
    ('street.languageMap=="Rue Principale"', {5}),
    ('alias.languageMap~="^High"', {5}),
    ("neighbours.objectList==urn:B", {8}),
    ('neighbours.objectList!="urn:C"', {8}),
    ('street.languageMap[fr]~="^Rue"', {5}),
    ('airQualityLevel.type=="Property"', {1, 2, 3, 4}),
    ("empty==1", set()),
    ('street=="Rue Principale"', {5}),
    ('street[fr]=="Rue Principale"', {5}),
    ('street[en]=="Rue Principale"', set()),
    ("street[en]", {5}),
    ("street[de]", set()),
    ('alias=="Highway"', {5}),
    ('alias[en]=="Highway"', {5}),
    ('category=="https://ex.org/Commercial"', {5}),
    ("category==https://ex.org/Commercial", {5}),
]


DATETIME_MEMBER_CASES: list[tuple[str, set[int]]] = [
    ("dateObserved>2024-01-01T00:00:00Z", {9}),
    ("dateObserved==2024-05-01T11:00:00+02:00", {9}),
    ('dateObserved=="2024-05-01T09:00:00Z"', {9}),
    ("birth<2002-01-01T00:00:00Z", {9}),
    ("name>2000-01-01T00:00:00Z", set()),
    ("locatedIn", {2}),
    ("almostFull", {1, 2, 3, 12}),
    ("createdAt>2024-01-10T00:00:00Z", {11, 12}),
    ("modifiedAt<2024-01-02T00:00:00Z", {1}),
    ("https://uri.etsi.org/ngsi-ld/createdAt==2024-01-03T00:00:00Z", {3}),
    ("id==urn:E:3", {3}),
    ("createdAt", set(range(1, 13))),
]


LOGICAL_CASES: list[tuple[str, set[int]]] = [
    ("locatedIn|owners|street", {2, 5, 8}),
    ("almostFull;airQualityLevel>4", {1, 2}),
    ("almostFull;airQualityLevel>4|speed", {1, 2, 4}),
    ("almostFull;(airQualityLevel>4|speed)", {1, 2}),
    ("((name==5))", {12}),
]


INJECTION_CASES: list[tuple[str, set[int]]] = [
    ('note=="x\') OR 1=1 --"', {10}),
    ('name=="x\') OR 1=1 --"', set()),
    ('name=="\\" OR 1=1 --"', set()),
    ('name=="\'; DROP TABLE entities; --"', set()),
]


SCOPE_CASES: list[tuple[str, set[int]]] = [
    ("/Madrid/Gardens/ParqueNorte", {1, 3}),
    ("/Madrid/+/ParqueNorte", {1, 3}),
    ("/CompanyA/#", {3}),
    ("/#", {1, 3, 6}),
    ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", {3}),
    ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", {1, 3}),
    ("/Madrid", set()),
    ("/Madrid/#", {1, 3}),
    ("/Madrid/Gardens/ParqueNorte/#", {1, 3}),
    ("/+", set()),
    ("/+/+/+", {1, 3}),
    ("/+/#", {1, 3, 6}),
    ("/CompanyA/+/UnitC", {3}),
    ("/a_b/#", {6}),
    ("/aXb/#", set()),
    ("/a_b/c%d", {6}),
    ("/a_b/cXd", set()),
    ("(/Madrid/#;/CompanyA/#)|/a_b/+", {3, 6}),
]


TYPE_CASES: list[tuple[str, set[int]]] = [
    ("Building", {1, 2, 3, 6}),
    ("Building;Home", {3}),
    ("(Building;Home)|Vehicle", {3, 4, 8}),
    ("Building,Street", {1, 2, 3, 5, 6}),
    ("Nothing", set()),
    ("Thing;Building", set()),
]
