"""Representations (clause 4.5: normalized, concise, keyValues), lang (4.15), datasetId filter."""

from __future__ import annotations

from cityhub.ngsild.render import Projection, render_entity

D = "https://uri.etsi.org/ngsi-ld/default-context/"


class Terms:
    def expand(self, term: str) -> str:
        return D + term

    def compact(self, iri: str) -> str:
        return iri.removeprefix(D)


ENTITY = {
    "id": "urn:ngsi-ld:Park:1",
    "type": [D + "Park"],
    "createdAt": "2026-01-01T00:00:00.000000Z",
    "modifiedAt": "2026-01-01T00:00:00.000000Z",
    "attrs": {
        D + "name": [
            {"type": "LanguageProperty", "languageMap": {"ko": "중앙공원", "en": "Central"}}
        ],
        D + "visitors": [
            {"type": "Property", "value": 10},
            {"type": "Property", "value": 12, "datasetId": "urn:ngsi-ld:Dataset:cam"},
        ],
        D + "near": [
            {
                "type": "Relationship",
                "object": "urn:ngsi-ld:School:1",
                D + "since": {"type": "Property", "value": 2020},
            }
        ],
    },
}


def test_normalized_multi_instance_is_an_array() -> None:
    out = render_entity(ENTITY, Terms(), Projection())
    assert out["type"] == "Park"
    assert isinstance(out["visitors"], list) and len(out["visitors"]) == 2
    assert out["near"]["since"] == {"type": "Property", "value": 2020}


def test_concise_and_key_values() -> None:
    concise = render_entity(ENTITY, Terms(), Projection(format="concise"))
    assert concise["visitors"][0] == 10
    assert concise["near"] == {"object": "urn:ngsi-ld:School:1", "since": 2020}
    kv = render_entity(ENTITY, Terms(), Projection(format="keyValues"))
    assert kv["near"] == "urn:ngsi-ld:School:1"
    assert kv["name"] == {"ko": "중앙공원", "en": "Central"}


def test_lang_picks_and_star_takes_the_first() -> None:
    ko = render_entity(ENTITY, Terms(), Projection(lang="ko"))
    assert ko["name"] == {"type": "Property", "value": "중앙공원", "lang": "ko"}
    star = render_entity(ENTITY, Terms(), Projection(lang="*", format="keyValues"))
    assert star["name"] == "중앙공원"


def test_dataset_id_filter_and_sys_attrs() -> None:
    only_default = render_entity(ENTITY, Terms(), Projection(dataset_ids={None}))
    assert only_default["visitors"] == {"type": "Property", "value": 10}
    sys = render_entity(ENTITY, Terms(), Projection(sys_attrs=True))
    assert sys["createdAt"] == ENTITY["createdAt"]
