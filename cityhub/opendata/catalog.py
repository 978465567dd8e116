"""The open data catalogue (issue 19 item 3): DCAT-AP 3 generated from the publishing rules.

One ``dcat:Dataset`` per published type, with its licence, attribution (``dct:rights``),
keywords and dates, and distributions: the OGC API items (``dcat:accessService`` the OGC API's
``dcat:DataService``), CSV, GeoJSON and Parquet snapshots of the current state, and, when the
rule publishes history, a daily CSV extract (the previous UTC day's as its access URL; every
day's by the same pattern). The catalogue names both APIs as data services: OGC API - Features
(open) and NGSI-LD (behind access control when it is on: ``dct:accessRights`` says so). Every
resource carries the class its DCAT-AP range asks for, so the DCAT-AP 3.0.1 SHACL shapes pass
(``tests/opendata/test_catalog.py``). Pure: from the publications, a base URL and a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, XSD

from cityhub.opendata.rules import Publication

FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
LANGUAGE = Namespace("http://publications.europa.eu/resource/authority/language/")
IANA = Namespace("https://www.iana.org/assignments/media-types/")
OGC_FEATURES = URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core")
NGSI_LD = URIRef("https://www.etsi.org/deliver/etsi_gs/CIM/001_099/009/")

#: (suffix, EU file type, IANA media type)
SNAPSHOTS = (
    ("csv", "CSV", "text/csv"),
    ("geojson", "GEOJSON", "application/geo+json"),
    ("parquet", "PARQUET", "application/vnd.apache.parquet"),
)


def _when(text: str) -> Literal:
    return Literal(text.replace("Z", "+00:00"), datatype=XSD.dateTime)


class _Catalogue:
    def __init__(self, base: str, tenant: str) -> None:
        self.base = base
        self.tenant = tenant
        self.g = Graph()
        for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF)):
            self.g.bind(prefix, ns)
        suffix = f"/{tenant}" if tenant else ""
        self.catalog = URIRef(f"{base}/catalog{suffix}")
        self.publisher = URIRef(f"{base}/catalog{suffix}#publisher")

    def typed(self, node: URIRef | BNode, cls: URIRef) -> URIRef | BNode:
        self.g.add((node, RDF.type, cls))
        return node

    def add_text(self, node: URIRef | BNode, prop: URIRef, text: str, lang: str = "") -> None:
        self.g.add((node, prop, Literal(text, lang=lang or None)))

    def media(self, node: URIRef | BNode, file_type: str, media_type: str) -> None:
        self.g.add(
            (node, DCTERMS.format, self.typed(FILE_TYPE[file_type], DCTERMS.MediaTypeOrExtent))
        )
        self.g.add((node, DCAT.mediaType, self.typed(IANA[media_type], DCTERMS.MediaType)))

    def license(self, node: URIRef | BNode, publication: Publication) -> None:
        self.g.add(
            (
                node,
                DCTERMS.license,
                self.typed(URIRef(publication.license_url), DCTERMS.LicenseDocument),
            )
        )

    def rights(self, node: URIRef | BNode, text: str) -> None:
        statement = self.typed(BNode(), DCTERMS.RightsStatement)
        self.g.add((statement, RDFS.label, Literal(text)))
        self.g.add((node, DCTERMS.rights, statement))


HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")


@dataclass(frozen=True)
class Page:
    """Which page of the datasets a catalogue shows, and the URL of page ``n`` (``url(n)``),
    described with Hydra's PagedCollection as DCAT harvesters (CKAN's) read it."""

    number: int
    size: int
    url: Callable[[int], str]


def _paged(c: _Catalogue, page: Page, total: int) -> None:
    node = c.typed(URIRef(page.url(page.number)), HYDRA.PagedCollection)
    last = max(1, -(-total // page.size))
    c.g.add((node, HYDRA.totalItems, Literal(total)))
    c.g.add((node, HYDRA.itemsPerPage, Literal(page.size)))
    c.g.add((node, HYDRA.firstPage, Literal(page.url(1))))
    c.g.add((node, HYDRA.lastPage, Literal(page.url(last))))
    if page.number < last:
        c.g.add((node, HYDRA.nextPage, Literal(page.url(page.number + 1))))
    if page.number > 1:
        c.g.add((node, HYDRA.previousPage, Literal(page.url(min(page.number - 1, last)))))


def catalogue(
    base: str,
    tenant: str,
    publications: Sequence[Publication],
    now: datetime | None = None,
    title: str = "cityhub open data",
    page: Page | None = None,
) -> Graph:
    """The DCAT-AP 3 catalogue of ``publications`` (one tenant's) as an RDF graph; with
    ``page``, only that page of the datasets, and the paging described."""
    now = now or datetime.now(UTC)
    c = _Catalogue(base, tenant)
    g = c.g
    g.bind("hydra", HYDRA)
    if page is not None:
        _paged(c, page, len(publications))
        start = (page.number - 1) * page.size
        publications = publications[start : start + page.size]
    c.typed(c.catalog, DCAT.Catalog)
    c.add_text(c.catalog, DCTERMS.title, title, "en")
    c.add_text(c.catalog, DCTERMS.title, "cityhub 공공데이터", "ko")
    c.add_text(
        c.catalog,
        DCTERMS.description,
        "The city's published data: current state, history and geo APIs",
        "en",
    )
    c.add_text(
        c.catalog, DCTERMS.description, "도시의 공개 데이터: 현재 상태, 이력, 공간 API", "ko"
    )
    c.typed(c.publisher, FOAF.Agent)
    c.add_text(c.publisher, FOAF.name, "cityhub")
    g.add((c.catalog, DCTERMS.publisher, c.publisher))
    g.add((c.catalog, FOAF.homepage, c.typed(URIRef(f"{base}/data"), FOAF.Document)))
    for code in ("KOR", "ENG"):
        g.add((c.catalog, DCTERMS.language, c.typed(LANGUAGE[code], DCTERMS.LinguisticSystem)))
    if publications:
        g.add((c.catalog, DCTERMS.modified, _when(max(p.modified_at for p in publications))))

    ogc = c.typed(URIRef(f"{base}/ogcapi/#service"), DCAT.DataService)
    c.add_text(ogc, DCTERMS.title, "OGC API - Features")
    g.add((ogc, DCAT.endpointURL, c.typed(URIRef(f"{base}/ogcapi/"), RDFS.Resource)))
    g.add((ogc, DCAT.endpointDescription, c.typed(URIRef(f"{base}/ogcapi/api"), RDFS.Resource)))
    g.add((ogc, DCTERMS.conformsTo, c.typed(OGC_FEATURES, DCTERMS.Standard)))
    g.add((c.catalog, DCAT.service, ogc))
    ngsi = c.typed(URIRef(f"{base}/ngsi-ld/v1/#service"), DCAT.DataService)
    c.add_text(ngsi, DCTERMS.title, "NGSI-LD API (ETSI GS CIM 009)")
    g.add((ngsi, DCAT.endpointURL, c.typed(URIRef(f"{base}/ngsi-ld/v1/"), RDFS.Resource)))
    g.add((ngsi, DCTERMS.conformsTo, c.typed(NGSI_LD, DCTERMS.Standard)))
    access = c.typed(BNode(), DCTERMS.RightsStatement)
    g.add((access, RDFS.label, Literal("an API key or token where the hub's access control is on")))
    g.add((ngsi, DCTERMS.accessRights, access))
    g.add((c.catalog, DCAT.service, ngsi))

    yesterday = (now.astimezone(UTC).date() - timedelta(days=1)).isoformat()
    for p in publications:
        dataset = c.typed(URIRef(f"{base}/ogcapi/collections/{p.name}"), DCAT.Dataset)
        g.add((c.catalog, DCAT.dataset, dataset))
        g.add((ogc, DCAT.servesDataset, dataset))
        g.add((ngsi, DCAT.servesDataset, dataset))
        c.add_text(dataset, DCTERMS.title, p.title)
        c.add_text(dataset, DCTERMS.description, p.description or f"{p.name} entities of the city")
        c.add_text(dataset, DCTERMS.identifier, p.type)
        for word in p.keywords:
            c.add_text(dataset, DCAT.keyword, word)
        g.add((dataset, DCTERMS.issued, _when(p.created_at)))
        g.add((dataset, DCTERMS.modified, _when(p.modified_at)))
        g.add((dataset, DCTERMS.publisher, c.publisher))
        if p.attribution:
            c.rights(dataset, p.attribution)
        distributions: list[tuple[str, str, str | None, str, str]] = [
            (f"{base}/ogcapi/collections/{p.name}/items", "OGC API - Features items", None,
             "GEOJSON", "application/geo+json"),
        ]  # fmt: skip
        for suffix, file_type, media_type in SNAPSHOTS:
            url = f"{base}/opendata/{p.name}.{suffix}"
            distributions.append((url, f"current state ({suffix})", url, file_type, media_type))
        if p.history:
            url = f"{base}/opendata/{p.name}/history/{yesterday}.csv"
            distributions.append(
                (url, "daily history extract (CSV): /history/YYYY-MM-DD.csv", url, "CSV",
                 "text/csv"),
            )  # fmt: skip
        for index, (access_url, label, download, file_type, media_type) in enumerate(distributions):
            node = c.typed(URIRef(f"{dataset}#distribution-{index}"), DCAT.Distribution)
            g.add((dataset, DCAT.distribution, node))
            c.add_text(node, DCTERMS.title, label)
            g.add((node, DCAT.accessURL, URIRef(access_url)))
            if download is not None:
                g.add((node, DCAT.downloadURL, URIRef(download)))
            else:
                g.add((node, DCAT.accessService, ogc))
            c.media(node, file_type, media_type)
            c.license(node, p)
            if p.attribution:
                c.rights(node, p.attribution)
    return g


def modified_since(publications: Sequence[Publication], since: str) -> list[Publication]:
    """Those changed at or after ``since`` (the hub's UTC date-time text)."""
    return [p for p in publications if p.modified_at >= since]


__all__ = ["Page", "catalogue", "modified_since"]
