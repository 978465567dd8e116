"""The catalogue as NGSI-LD entities (issue 19 item 3): Smart Data Models DCAT-AP
(``dataModel.DCAT-AP``) ``Catalogue``, ``Dataset`` and ``Distribution`` entities in each
tenant, kept equal to its publishing rules, so that NGSI-LD harvesters find the open data in
the broker itself: ckanext-harvest-ngsild reads a ``Catalogue`` entity
(``urn:ngsi-ld:Catalogue:<organization>``), follows its ``dataset`` list to ``Dataset``
entities and their ``distribution`` lists, and subscribes to ``Dataset`` changes.

Names are full Smart Data Models IRIs, but ``title``, ``description`` and ``format``, which
are the core @context's (``dct:title``, ``dct:description``, ``ngsi-ld:format``), as that
harvester reads them. The entities are rewritten in one transaction whenever a rule changes
(``Publishing.put``/``delete``): the store's normal write path, so subscriptions fire.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from cityhub.ngsild import ops
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity, expand_entity
from cityhub.opendata.rules import Publication, core_terms
from cityhub.store.base import Store, Transaction

SDM = "https://smartdatamodels.org/"
DCAT_AP = SDM + "dataModel.DCAT-AP/"
CATALOGUE, DATASET, DISTRIBUTION = (DCAT_AP + t for t in ("Catalogue", "Dataset", "Distribution"))
ORGANIZATION = "cityhub"
CATALOGUE_ID = f"urn:ngsi-ld:Catalogue:{ORGANIZATION}"
#: the ids this module writes (and so may delete): nothing else of those types is touched
_OURS = (
    CATALOGUE_ID,
    f"urn:ngsi-ld:Dataset:{ORGANIZATION}:",
    f"urn:ngsi-ld:Distribution:{ORGANIZATION}:",
)
_FORMATS = (
    ("csv", "CSV", "text/csv"),
    ("geojson", "GeoJSON", "application/geo+json"),
    ("parquet", "Parquet", "application/vnd.apache.parquet"),
)


def _p(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _when(text: str) -> dict[str, Any]:
    return _p({"@type": "DateTime", "@value": text})


def dataset_id(publication: Publication) -> str:
    return f"urn:ngsi-ld:Dataset:{ORGANIZATION}:{publication.name}"


def harvest_entities(base: str, publications: Sequence[Publication]) -> list[dict[str, Any]]:
    """The Catalogue, Dataset and Distribution entities (normalized NGSI-LD, names as above)."""
    out: list[dict[str, Any]] = []
    datasets: list[str] = []
    for p in publications:
        did = dataset_id(p)
        datasets.append(did)
        distributions: list[str] = []
        links = [
            (f"{base}/opendata/{p.name}.{suffix}", label, media)
            for suffix, label, media in _FORMATS
        ]
        links.append(
            (
                f"{base}/ogcapi/collections/{p.name}/items",
                "OGC API - Features",
                "application/geo+json",
            )
        )
        for index, (url, label, media) in enumerate(links):
            dist_id = f"urn:ngsi-ld:Distribution:{ORGANIZATION}:{p.name}:{index}"
            distributions.append(dist_id)
            distribution: dict[str, Any] = {
                "id": dist_id,
                "type": DISTRIBUTION,
                "title": _p(f"{p.title}: {label}"),
                "description": _p(f"{p.name}, current state ({label})"),
                "format": _p(label),
                DCAT_AP + "accessUrl": _p([url]),
                DCAT_AP + "downloadURL": _p([url]),
                DCAT_AP + "mediaType": _p(media),
                DCAT_AP + "license": _p(p.license_url),
            }
            if p.attribution:
                distribution[DCAT_AP + "rights"] = _p(p.attribution)
            out.append(distribution)
        dataset: dict[str, Any] = {
            "id": did,
            "type": DATASET,
            "title": _p(p.title),
            "description": _p(p.description or f"{p.name} entities of the city"),
            DCAT_AP + "publisher": _p(ORGANIZATION),
            DCAT_AP + "license": _p(p.license_url),
            DCAT_AP + "accessRights": _p("public"),
            DCAT_AP + "landingPage": _p(f"{base}/data#{p.name}"),
            DCAT_AP + "distribution": _p(distributions),
            DCAT_AP + "identifier": _p([p.type]),
            SDM + "dateCreated": _when(p.created_at),
            SDM + "dateModified": _when(p.modified_at),
        }
        if p.keywords:
            dataset[DCAT_AP + "keyword"] = _p(list(p.keywords))
        if p.attribution:
            dataset[DCAT_AP + "rights"] = _p(p.attribution)
        out.append(dataset)
    out.insert(
        0,
        {
            "id": CATALOGUE_ID,
            "type": CATALOGUE,
            "title": _p("cityhub open data"),
            "description": _p("The city's published data / 도시의 공개 데이터"),
            DCAT_AP + "publisher": _p(ORGANIZATION),
            DCAT_AP + "homepage": _p(f"{base}/data"),
            DCAT_AP + "dataset": _p(datasets),
        },
    )
    return out


def _sync(tx: Transaction, wanted: list[Entity]) -> None:
    now = now_iso()
    keep = {e["id"] for e in wanted}
    for stale in tx.ids_of_types([CATALOGUE, DATASET, DISTRIBUTION]):
        if stale.startswith(_OURS) and stale not in keep:
            tx.delete(stale)
    for entity in wanted:
        current = tx.get(entity["id"])
        if current is None:
            tx.insert(ops.new_entity(entity, now))
            continue
        before: Entity = orjson.loads(orjson.dumps(current))  # the change's former state
        ops.replace_entity(current, entity, now)
        tx.save(current, before)


async def sync_harvest_entities(
    store: Store, tenant: str, base: str, publications: Sequence[Publication]
) -> None:
    """Make the tenant's DCAT-AP entities those of ``publications`` (none left when nothing is
    published), in one transaction."""
    terms = core_terms()
    bodies = harvest_entities(base, publications) if publications else []
    wanted = [expand_entity(body, terms) for body in bodies]
    await store.write(tenant, lambda tx: _sync(tx, wanted))


__all__ = [
    "CATALOGUE",
    "CATALOGUE_ID",
    "DATASET",
    "DISTRIBUTION",
    "dataset_id",
    "harvest_entities",
    "sync_harvest_entities",
]
