"""The DCAT-AP 3 catalogue (issue 19 item 3): generated from the publishing rules, served as
JSON-LD, Turtle and RDF/XML, and valid against the DCAT-AP 3.0.1 SHACL shapes (pyshacl),
which the tests read from ``shared/data/dcat-ap-3.0.1/`` beside the repository (never copied
into it); skipped, with the reason, where that folder is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF
from starlette.testclient import TestClient

from tests.opendata.helpers import publish_city, seed

SH = Namespace("http://www.w3.org/ns/shacl#")
#: rdflib's own JSON-LD parser (reading the answer back here) uses its deprecated class
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[2]


def _shapes_dir() -> Path | None:
    for parent in ROOT.parents:
        found = parent / "shared" / "data" / "dcat-ap-3.0.1"
        if (found / "dcat-ap-SHACL.ttl").is_file():
            return found
    return None


SHAPES = _shapes_dir()


@pytest.fixture(scope="module")
def shapes() -> Graph:
    if SHAPES is None:
        pytest.skip("the DCAT-AP 3.0.1 SHACL shapes are not in ../shared/data/dcat-ap-3.0.1/")
    graph = Graph()
    for name in ("dcat-ap-SHACL.ttl", "ranges.ttl"):
        graph.parse(SHAPES / name)
    # the released files name 5 property shapes that neither defines (no sh:path): pyshacl
    # refuses such a shapes graph whole, so those references are dropped, and only those
    dangling = [
        (s, o) for s, o in graph.subject_objects(SH.property) if graph.value(o, SH.path) is None
    ]
    assert len(dangling) <= 5, dangling
    for s, o in dangling:
        graph.remove((s, SH.property, o))
    return graph


@pytest.fixture
def city(client: TestClient) -> TestClient:
    seed(client)
    publish_city(client)
    return client


def _graph(client: TestClient, path: str, rdf_format: str) -> Graph:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return Graph().parse(data=response.content, format=rdf_format)


def test_the_catalogue_passes_the_dcat_ap_shapes(city: TestClient, shapes: Graph) -> None:
    from pyshacl import validate

    for path, rdf_format in (
        ("/catalog.ttl", "turtle"),
        ("/catalog.jsonld", "json-ld"),
        ("/catalog.rdf", "xml"),
    ):
        graph = _graph(city, path, rdf_format)
        conforms, _, report = validate(graph, shacl_graph=shapes)
        assert conforms, f"{path}:\n{report}"


def test_a_dataset_per_published_type_with_its_distributions(city: TestClient) -> None:
    graph = _graph(city, "/catalog.ttl", "turtle")
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    names = {str(d).rsplit("/", 1)[-1] for d in datasets}
    assert names == {"AirQualityObserved", "OffStreetParking"}
    aqo = next(d for d in datasets if str(d).endswith("AirQualityObserved"))
    urls = {str(graph.value(d, DCAT.accessURL)) for d in graph.objects(aqo, DCAT.distribution)}
    base = "http://testserver"
    assert {
        f"{base}/ogcapi/collections/AirQualityObserved/items",
        f"{base}/opendata/AirQualityObserved.csv",
        f"{base}/opendata/AirQualityObserved.geojson",
        f"{base}/opendata/AirQualityObserved.parquet",
    } <= urls
    assert any("/history/" in u for u in urls)  # the rule publishes history
    licences = {str(graph.value(d, DCTERMS.license)) for d in graph.objects(aqo, DCAT.distribution)}
    assert licences == {"https://creativecommons.org/licenses/by/4.0/"}
    parking = next(d for d in datasets if str(d).endswith("OffStreetParking"))
    assert not any(
        "/history/" in str(graph.value(d, DCAT.accessURL))
        for d in graph.objects(parking, DCAT.distribution)
    )
    services = set(graph.subjects(RDF.type, DCAT.DataService))
    endpoints = {str(graph.value(s, DCAT.endpointURL)) for s in services}
    assert endpoints == {f"{base}/ogcapi/", f"{base}/ngsi-ld/v1/"}
    assert "Camera" not in city.get("/catalog.ttl").text
    for every in (aqo, parking):
        for service in services:
            assert (service, DCAT.servesDataset, every) in graph


def test_modified_since_and_bad_parameters(city: TestClient) -> None:
    everything = _graph(city, "/catalog.ttl?modified_since=2000-01-01", "turtle")
    assert len(set(everything.subjects(RDF.type, DCAT.Dataset))) == 2
    nothing = _graph(city, "/catalog.ttl?modified_since=2999-01-01T00:00:00Z", "turtle")
    assert set(nothing.subjects(RDF.type, DCAT.Dataset)) == set()
    assert (None, RDF.type, DCAT.Catalog) in nothing
    for query in (
        "modified_since=yesterday",
        "modified_since=2026-01-01T00:00:00",
        "page=0",
        "pageSize=1001",
        "limit=2",
    ):
        response = city.get(f"/catalog.jsonld?{query}")
        assert response.status_code == 400, query
        assert response.json()["detail"]
    assert city.get("/catalog.json").status_code == 404


def test_an_empty_catalogue_is_still_a_catalogue(client: TestClient) -> None:
    graph = _graph(client, "/catalog.jsonld", "json-ld")
    catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
    assert catalogs == [URIRef("http://testserver/catalog")]
    assert set(graph.subjects(RDF.type, DCAT.Dataset)) == set()


def test_pages(city: TestClient, shapes: Graph) -> None:
    from pyshacl import validate

    hydra = Namespace("http://www.w3.org/ns/hydra/core#")
    first = _graph(city, "/catalog.ttl?pageSize=1", "turtle")
    assert len(set(first.subjects(RDF.type, DCAT.Dataset))) == 1
    paged = next(first.subjects(RDF.type, hydra.PagedCollection))
    assert int(first.value(paged, hydra.totalItems)) == 2
    following = str(first.value(paged, hydra.nextPage))
    assert following.endswith("/catalog.ttl?pageSize=1&page=2")
    second = _graph(city, following.removeprefix("http://testserver"), "turtle")
    names = {str(d) for g in (first, second) for d in g.subjects(RDF.type, DCAT.Dataset)}
    assert len(names) == 2
    assert (None, hydra.nextPage, None) not in second
    conforms, _, report = validate(second, shacl_graph=shapes)
    assert conforms, report
