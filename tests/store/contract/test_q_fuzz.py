"""Whatever q parses answers the same on SQLite and PostgreSQL: random q texts over the
entities of tests/store/q_cases.py, each run on both stores, the two answers compared (or both
refused with BadRequestData). A divergence here is a bug in one backend's dialect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.query import expand_q, parse_q
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import EntityQuery
from tests.store.contract.conftest import Backend
from tests.store.contract.test_q import _loaded, found
from tests.store.q_cases import expand

_ATTRS = st.sampled_from(
    [
        "name",
        "airQualityLevel",
        "almostFull",
        "speed",
        "address",
        "tags",
        "street",
        "alias",
        "temperature",
        "readings",
        "neighbours",
        "owners",
        "dateObserved",
        "birth",
        "config",
        "category",
        "flag",
        "empty",
        "note",
        "missing",
        "id",
        "createdAt",
        "modifiedAt",
    ]  # fmt: skip
)
_PATHS = st.sampled_from(
    [
        "",
        "",
        "",
        ".observedAt",
        ".datasetId",
        ".unitCode",
        ".value",
        ".languageMap",
        ".objectList",
        ".providedBy",
        ".providedBy.since",
        ".accuracy",
        "[city]",
        "[city][name]",
        "[fr]",
        "[en]",
        "[mode]",
        "[levels]",
        "[streetAddress]",
    ]  # fmt: skip
)
_OPS = st.sampled_from(["==", "!=", ">", "<", ">=", "<=", "~=", "!~="])
_VALUES = st.sampled_from(
    [
        "6",
        "4",
        "7",
        "21.5",
        "-1",
        "1e2",
        "2019",
        "0.5",
        "true",
        "false",
        '"6"',
        '"true"',
        '"Pisa Tower"',
        '"^P"',
        '"(?i)eiffel"',
        '"Rue Principale"',
        '"red"',
        '"Madrid"',
        '"eco"',
        "urn:ngsi-ld:City:Pisa",
        "urn:B",
        "urn:ds:radar",
        "https://ex.org/Commercial",
        "2020-10-10T16:40:00Z",
        "2024-05-01T11:00:00+02:00",
        "4..6",
        '"A".."F"',
        "2..3",
        "2020-01-01T00:00:00Z..2024-01-01T00:00:00Z",
        "4,7",
        '5,"Eiffel Tower"',
        '"a"',
    ]  # fmt: skip
)
_TERMS = st.one_of(
    st.builds(lambda a, p: a + p, _ATTRS, _PATHS),
    st.builds(lambda a, p, o, v: a + p + o + v, _ATTRS, _PATHS, _OPS, _VALUES),
)
_Q = st.builds(
    lambda terms, joins: (
        "".join(t + j for t, j in zip(terms[:-1], joins, strict=False)) + terms[-1]
    ),
    st.lists(_TERMS, min_size=1, max_size=3),
    st.lists(st.sampled_from([";", "|"]), min_size=2, max_size=2),
)


@pytest.fixture(scope="module")
def both(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Backend, Backend]]:
    server_url = request.getfixturevalue("postgres_server")
    from tests.postgres import server

    sqlite = _loaded(Backend(f"sqlite:///{tmp_path_factory.mktemp('fz') / Path('q.db')}"))
    with server.throwaway_schema(server_url, f"cityhub_contract_fuzz_{os.getpid()}") as url:
        postgres = _loaded(Backend(url))
        pair = (next(sqlite), next(postgres))
        yield pair
        for gen in (sqlite, postgres):
            gen.close()


def _answer(b: Backend, tree: Node) -> set[int] | str:
    try:
        return found(b, EntityQuery(q=tree, limit=100))
    except BadRequestData:
        return "refused"


@settings(max_examples=300, deadline=None)
@given(_Q)
def test_random_q_answers_the_same_on_both_backends(
    both: tuple[Backend, Backend], text: str
) -> None:
    try:
        tree = expand_q(parse_q(text), expand)
    except BadRequestData:
        return
    sqlite, postgres = both
    assert _answer(sqlite, tree) == _answer(postgres, tree), text
