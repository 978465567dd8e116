"""A request compacted with a registration's jsonldContext (ETSI GS CIM 009 v1.9.1 clause
4.3.6.6): names rewritten from the caller's terms to the registration's, values kept."""

from __future__ import annotations

from cityhub.ngsild.context import TermMap, build_term_map
from cityhub.ngsild.recompact import Recompact

EX = "https://car.example/"


def _terms(mapping: dict[str, str]) -> TermMap:
    return build_term_map(mapping, {})


def test_names_in_params_and_bodies_are_rewritten() -> None:
    r = Recompact(
        _terms({"speed": EX + "speed", "Car": EX + "Car", "src": EX + "src"}),
        _terms({"velocidad": EX + "speed", "Coche": EX + "Car", "fuente": EX + "src"}),
    )
    params = [
        ("type", "(Car;Bus)|Car"),
        ("attrs", "speed,id"),
        ("q", 'speed>3;speed.src=="a;speed";speed.observedAt>2020-01-01T00:00:00Z'),
        ("limit", "5"),
    ]
    assert r.params(params) == [
        ("type", "(Coche;Bus)|Coche"),
        ("attrs", "velocidad,id"),
        ("q", 'velocidad>3;velocidad.fuente=="a;speed";velocidad.observedAt>2020-01-01T00:00:00Z'),
        ("limit", "5"),
    ]
    entity = {
        "@context": "http://mine.example/ctx.jsonld",
        "id": "urn:x:1",
        "type": ["Car"],
        "speed": {"type": "Property", "value": 3, "src": {"type": "Property", "value": "gps"}},
    }
    assert r.body([entity, "urn:x:2"]) == [
        {
            "id": "urn:x:1",
            "type": ["Coche"],
            "velocidad": {
                "type": "Property",
                "value": 3,
                "fuente": {"type": "Property", "value": "gps"},
            },
        },
        "urn:x:2",
    ]
    query = {"type": "Query", "entities": [{"type": "Car"}], "attrs": ["speed"], "q": "speed<9"}
    assert r.body(query) == {
        "type": "Query",
        "entities": [{"type": "Coche"}],
        "attrs": ["velocidad"],
        "q": "velocidad<9",
    }
