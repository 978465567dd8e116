"""q (clause 4.9), scopeQ (4.19) and type queries (4.17) answer the same on every backend: the
cases of tests/store/q_cases.py, run through ``Store.query_entities`` (so SQLite's q index and
PostgreSQL's compiler are both on the path), on one store written once per backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild.query import expand_q, expand_types, parse_q, parse_scope_q, parse_type_query
from cityhub.ngsild.query.ast import AttrPath, Comparison, Range
from cityhub.store.base import EntityQuery, Transaction
from tests.store.contract.conftest import Backend
from tests.store.q_cases import (
    COMPARISON_CASES,
    COMPOUND_CASES,
    DATETIME_MEMBER_CASES,
    ENTITIES,
    ETSI_CASES,
    EX,
    INJECTION_CASES,
    LOGICAL_CASES,
    PATH_CASES,
    RANGE_AND_LIST_CASES,
    REGEX_CASES,
    SCOPE_CASES,
    TYPE_CASES,
    expand,
)

Q_CASES = [
    *ETSI_CASES,
    *COMPARISON_CASES,
    *RANGE_AND_LIST_CASES,
    *REGEX_CASES,
    *PATH_CASES,
    *COMPOUND_CASES,
    *DATETIME_MEMBER_CASES,
    *LOGICAL_CASES,
    *INJECTION_CASES,
]
TENANT = "t"


def _write_entities(tx: Transaction) -> None:
    for number, (types, scopes, attrs) in ENTITIES.items():
        stamp = f"2024-01-{number:02d}T00:00:00.000000Z"
        entity = {
            "id": f"urn:E:{number}",
            "type": [EX + t for t in types],
            "createdAt": stamp,
            "modifiedAt": stamp,
            "attrs": {expand(name): value for name, value in attrs.items()},
        }
        if scopes:
            entity["scope"] = scopes
        tx.insert(entity)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """One store per backend for the whole module (the cases only read)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('q') / Path('q.db')}"
        b = Backend(url)
        yield from _loaded(b)
        return
    server_url = request.getfixturevalue("postgres_server")
    from tests.postgres import server

    with server.throwaway_schema(server_url, f"cityhub_contract_q_{os.getpid()}") as url:
        yield from _loaded(Backend(url))


def _loaded(b: Backend) -> Iterator[Backend]:
    try:
        b.run(b.store.write(TENANT, _write_entities))
        other = {
            "id": "urn:E:1",
            "type": [EX + "Building"],
            "createdAt": "2024-01-01T00:00:00Z",
            "modifiedAt": "2024-01-01T00:00:00Z",
            "attrs": {EX + "name": [{"type": "Property", "value": "Pisa Tower"}]},
        }
        b.run(b.store.write("other", lambda tx: tx.insert(other)))
        yield b
    finally:
        b.close()


def found(b: Backend, query: EntityQuery, tenant: str = TENANT) -> set[int]:
    result = b.run(b.store.query_entities(tenant, query))
    return {int(e["id"].rsplit(":", 1)[1]) for e in result.entities}


@pytest.mark.parametrize(("q", "expected"), Q_CASES, ids=[c[0] for c in Q_CASES])
def test_q(loaded: Backend, q: str, expected: set[int]) -> None:
    tree = expand_q(parse_q(q), expand)
    assert found(loaded, EntityQuery(q=tree, limit=100)) == expected


@pytest.mark.parametrize(("q", "expected"), Q_CASES[:12], ids=[c[0] for c in Q_CASES[:12]])
def test_q_with_a_type(loaded: Backend, q: str, expected: set[int]) -> None:
    """The same terms restricted to a type (the path the API takes most: type=...&q=...)."""
    tree = expand_q(parse_q(q), expand)
    building = {n for n, (types, _, _) in ENTITIES.items() if "Building" in types}
    query = EntityQuery(types=(EX + "Building",), q=tree, limit=100)
    assert found(loaded, query) == expected & building


@pytest.mark.parametrize(("scope_q", "expected"), SCOPE_CASES, ids=[c[0] for c in SCOPE_CASES])
def test_scope_q(loaded: Backend, scope_q: str, expected: set[int]) -> None:
    assert found(loaded, EntityQuery(scope_q=parse_scope_q(scope_q), limit=100)) == expected


@pytest.mark.parametrize(("type_q", "expected"), TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_type_query(loaded: Backend, type_q: str, expected: set[int]) -> None:
    tree = expand_types(parse_type_query(type_q), expand)
    assert found(loaded, EntityQuery(type_query=tree, limit=100)) == expected


def test_queries_stay_in_their_tenant(loaded: Backend) -> None:
    tree = expand_q(parse_q('name=="Pisa Tower"'), expand)
    assert found(loaded, EntityQuery(q=tree, limit=100), tenant="other") == {1}
    assert found(loaded, EntityQuery(types=(EX + "Building",), limit=100), "other") == {1}
    assert found(loaded, EntityQuery(q=tree, limit=100), tenant="nobody") == set()


@pytest.mark.parametrize(
    "tree",
    [
        Comparison(AttrPath(EX + "a"), ">", True),
        Comparison(AttrPath(EX + "a"), ">", Range(1, 2)),
        Comparison(AttrPath(EX + "a"), "==", Range(1, "z")),
        Comparison(AttrPath(EX + "a"), "~=", "(unclosed"),
        Comparison(AttrPath(EX + "a", ("observedAt", "b"))),
        Comparison(AttrPath("createdAt", ("b",))),
    ],
    ids=repr,
)
def test_trees_that_cannot_be_compared_are_refused(loaded: Backend, tree: Comparison) -> None:
    with pytest.raises(BadRequestData):
        loaded.run(loaded.store.query_entities(TENANT, EntityQuery(q=tree)))


def test_the_largest_query_the_parser_accepts_runs(loaded: Backend) -> None:
    text = "(" * 32 + "|".join(f"speed.datasetId==urn:ds:{i}" for i in range(200)) + ")" * 32
    assert found(loaded, EntityQuery(q=expand_q(parse_q(text), expand))) == set()
