"""q over an entity in memory (``cityhub.ngsild.query.evaluate``, clause 4.9) answers what the
stores' SQL answers: the cases of tests/store/q_cases.py, then random q texts over the same
entities and over random entities, each run on a store of each backend and through the
evaluator on the entities that store reads back. A difference is a bug in one of the roads.
The evaluator filters entities merged from several context sources (split entities, clause
5.7.2.4), which no store holds as one row."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.query import expand_q, parse_q
from cityhub.ngsild.query.ast import AttrPath, Comparison, Node, Range
from cityhub.ngsild.query.evaluate import q_matcher, q_matches
from cityhub.store.base import EntityQuery
from tests.store.contract.conftest import Backend
from tests.store.contract.test_q import Q_CASES, TENANT, _loaded
from tests.store.contract.test_q_fuzz import _Q as _CASE_Q
from tests.store.q_cases import ENTITIES, EX, expand


def _case_entities() -> list[dict[str, Any]]:
    out = []
    for number, (types, _, attrs) in ENTITIES.items():
        stamp = f"2024-01-{number:02d}T00:00:00.000000Z"
        out.append(
            {
                "id": f"urn:E:{number}",
                "type": [EX + t for t in types],
                "createdAt": stamp,
                "modifiedAt": stamp,
                "attrs": {expand(name): value for name, value in attrs.items()},
            }
        )
    return out


def _numbers(entities: list[dict[str, Any]], tree: Node) -> set[int] | str:
    try:
        matcher = q_matcher(tree)
    except BadRequestData:
        return "refused"
    return {int(e["id"].rsplit(":", 1)[1]) for e in entities if matcher(e)}


@pytest.mark.parametrize(("q", "expected"), Q_CASES, ids=[c[0] for c in Q_CASES])
def test_the_stores_cases(q: str, expected: set[int]) -> None:
    """Clause 4.9 by example: every case the stores answer, answered the same in memory."""
    assert _numbers(_case_entities(), expand_q(parse_q(q), expand)) == expected


@pytest.mark.parametrize(
    "tree",
    [
        Comparison(AttrPath(EX + "a"), ">", True),
        Comparison(AttrPath(EX + "a"), ">", Range(1, 2)),
        Comparison(AttrPath(EX + "a"), "==", Range(1, "z")),
        Comparison(AttrPath(EX + "a"), "~=", "(unclosed"),
        Comparison(AttrPath(EX + "a"), "~=", 5),
        Comparison(AttrPath(EX + "a"), "=~", "x"),
        Comparison(AttrPath(EX + "a"), "==", None),
        Comparison(AttrPath(EX + "a"), None, 5),
        Comparison(AttrPath(EX + "a"), "!", 5),
        Comparison(AttrPath(EX + "a", ("observedAt", "b"))),
        Comparison(AttrPath("createdAt", ("b",))),
        Comparison(AttrPath("id", (), ("k",)), "==", "x"),
    ],
    ids=repr,
)
def test_trees_the_stores_refuse_are_refused_before_any_entity_is_read(tree: Node) -> None:
    with pytest.raises(BadRequestData):
        q_matcher(tree)


def test_a_merged_entity_matches_on_attributes_from_two_sources() -> None:
    """The case split entities need: neither part alone matches ``speed>50;brand=="Tesla"``."""
    tree = expand_q(parse_q('speed>50;brand=="Tesla"'), expand)
    local = {"id": "urn:V:1", "attrs": {EX + "brand": [{"type": "Property", "value": "Tesla"}]}}
    remote = {"id": "urn:V:1", "attrs": {EX + "speed": [{"type": "Property", "value": 99}]}}
    merged = {"id": "urn:V:1", "attrs": {**local["attrs"], **remote["attrs"]}}
    assert not q_matches(tree, local)
    assert not q_matches(tree, remote)
    assert q_matches(tree, merged)


# -- random entities ---------------------------------------------------------------------------

_NAMES = ["speed", "name", "tags", "address", "note", "flag", "owner", "street", "near", "cfg"]
_SCALARS: list[Any] = [
    -1, 0, 4, 6, 7, 2019, 0.5, 21.5, 100.0, True, False, None,
    "6", "red", "Madrid", "Pisa Tower", "eco", "a", "A", "F", "", "urn:B", "urn:A",
    "2020-10-10T16:40:00Z", "2024-05-01T09:00:00Z", "2024-05-01T11:00:00+02:00",
    "2019-03-01", "08:30:00Z", "rue Principale", "é", "Z",
]  # fmt: skip
_STAMPS = [
    "2020-10-10T16:40:00.000Z",
    "2023-10-10T18:40:00+02:00",
    "2024-05-01T09:00:00Z",
    "2019-01-01T00:00:00Z",
]


def _scalar(rng: random.Random) -> Any:
    return rng.choice(_SCALARS)


def _json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 1 or roll < 0.5:
        return _scalar(rng)
    if roll < 0.75:
        return [_scalar(rng) for _ in range(rng.randint(0, 3))]
    keys = ["city", "name", "mode", "levels", "en", "zip"]
    return {k: _json(rng, depth + 1) for k in rng.sample(keys, rng.randint(1, 3))}


def _instance(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kind = rng.randrange(8)
    inst: dict[str, Any]
    if kind <= 2:
        value = _json(rng)
        if value is None:
            value = 0
        if rng.random() < 0.1 and not isinstance(value, dict | list):
            value = {"@value": value, "@type": "https://ex.org/T"}
        inst = {"type": "Property", "value": value}
    elif kind == 3:
        obj: Any = rng.choice(["urn:A", "urn:B", "urn:ngsi-ld:City:Pisa"])
        if rng.random() < 0.3:
            obj = [obj, "urn:B"]
        inst = {"type": "Relationship", "object": obj}
    elif kind == 4:
        lang: dict[str, Any] = {"en": rng.choice(["Main Street", "red", "a", ["Big Road", "eco"]])}
        if rng.random() < 0.5:
            lang["fr"] = rng.choice(["Rue Principale", "rouge", "A"])
        inst = {"type": "LanguageProperty", "languageMap": lang}
    elif kind == 5:
        objects = [{"object": rng.choice(["urn:A", "urn:B"])} for _ in range(rng.randint(1, 2))]
        inst = {"type": "ListRelationship", "objectList": objects}
    elif kind == 6:
        vocab: Any = rng.choice([EX + "Commercial", "red", [EX + "Commercial", "eco"]])
        inst = {"type": "VocabProperty", "vocab": vocab}
    else:
        member = rng.choice(["json", "valueList"])
        body = _json(rng, 0) if member == "json" else [_scalar(rng) for _ in range(2)]
        inst = {"type": "JsonProperty" if member == "json" else "ListProperty", member: body}
    if rng.random() < 0.4:
        inst["observedAt"] = rng.choice(_STAMPS)
    if rng.random() < 0.3:
        inst["datasetId"] = rng.choice(["urn:ds:gps", "urn:ds:radar"])
    if rng.random() < 0.2:
        inst["unitCode"] = rng.choice(["C62", "KMH"])
    if depth == 0 and rng.random() < 0.3:
        inst[EX + rng.choice(["since", "accuracy"])] = _instance(rng, depth + 1)
    return inst


def random_entities(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` entities ``urn:R:<n>`` of random attributes of every type (clause 4.5),
    values drawn from what the q texts below compare with."""
    rng = random.Random(seed)
    out = []
    for number in range(count):
        names = rng.sample(_NAMES, rng.randint(0, 4))
        stamp = rng.choice(["2024-01-01T00:00:00.000000Z", "2024-06-01T12:00:00.000000Z"])
        out.append(
            {
                "id": f"urn:R:{number}",
                "type": [EX + "Thing"],
                "createdAt": stamp,
                "modifiedAt": stamp,
                "attrs": {
                    EX + name: [_instance(rng) for _ in range(rng.choice([1, 1, 1, 2]))]
                    for name in names
                },
            }
        )
    return out


_ATTRS = st.sampled_from([*_NAMES, "id", "createdAt", "modifiedAt", "missing"])
_PATHS = st.sampled_from(
    [
        "",
        "",
        "",
        ".observedAt",
        ".datasetId",
        ".unitCode",
        ".value",
        ".object",
        ".languageMap",
        ".objectList",
        ".vocab",
        ".json",
        ".valueList",
        ".since",
        ".since.observedAt",
        ".accuracy",
        "[city]",
        "[city][name]",
        "[en]",
        "[fr]",
        "[mode]",
        "[levels]",
        "[name]",
    ]  # fmt: skip
)
_OPS = st.sampled_from(["==", "!=", ">", "<", ">=", "<=", "~=", "!~="])
_VALUES = st.sampled_from(
    [
        "6",
        "4",
        "0",
        "-1",
        "21.5",
        "0.5",
        "1e2",
        "2019",
        "true",
        "false",
        '"6"',
        '"red"',
        '"Madrid"',
        '"Pisa Tower"',
        '"a"',
        '""',
        '"^P"',
        '"(?i)rue"',
        "urn:B",
        "urn:A",
        "2020-10-10T16:40:00Z",
        "2023-10-10T16:40:00Z",
        "2024-05-01T11:00:00+02:00",
        "2019-03-01",
        "08:30:00Z",
        "4..7",
        '"A".."F"',
        "2020-01-01T00:00:00Z..2024-01-01T00:00:00Z",
        "4,7",
        '6,"red"',
        "urn:A,urn:B",
        "https://ex.org/Commercial",
    ]  # fmt: skip
)
_TERMS = st.one_of(
    st.builds(lambda neg, a, p: neg + a + p, st.sampled_from(["", "", "!"]), _ATTRS, _PATHS),
    st.builds(lambda a, p, o, v: a + p + o + v, _ATTRS, _PATHS, _OPS, _VALUES),
)
_Q = st.builds(
    lambda terms, joins, group: (
        ("(" if group else "")
        + "".join(t + j for t, j in zip(terms[:-1], joins, strict=False))
        + terms[-1]
        + (")" if group else "")
    ),
    st.lists(_TERMS, min_size=1, max_size=3),
    st.lists(st.sampled_from([";", "|"]), min_size=2, max_size=2),
    st.booleans(),
)


def _write(b: Backend, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def insert(tx: Any) -> None:  # one transaction: its history falls in several months
        for entity in entities:
            tx.insert(entity)

    b.run(b.store.write(TENANT, insert))
    stored = b.run(b.store.query_entities(TENANT, EntityQuery(limit=10_000))).entities
    stored = _only(stored, "urn:R:")
    assert len(stored) == len(entities)
    return stored


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[list[tuple[Backend, list[dict[str, Any]], list[dict[str, Any]]]]]:
    """Per backend: the store, the case entities and 240 random ones (three seeds) as it
    reads them back."""
    server_url = request.getfixturevalue("postgres_server")
    from tests.postgres import server

    generated = [e for seed in (1, 2, 3) for e in random_entities(seed, 80)]
    for number, entity in enumerate(generated):
        entity["id"] = f"urn:R:{number}"
    sqlite_gen = _loaded(Backend(f"sqlite:///{tmp_path_factory.mktemp('qe') / Path('q.db')}"))
    with server.throwaway_schema(server_url, f"cityhub_contract_qeval_{os.getpid()}") as url:
        postgres_gen = _loaded(Backend(url))
        out = []
        for gen in (sqlite_gen, postgres_gen):
            b = next(gen)
            cases = b.run(b.store.query_entities(TENANT, EntityQuery(limit=1000))).entities
            out.append((b, cases, _write(b, generated)))
        yield out
        for gen in (sqlite_gen, postgres_gen):
            gen.close()


def _store_numbers(b: Backend, tree: Node, prefix: str) -> set[int] | str:
    try:
        result = b.run(b.store.query_entities(TENANT, EntityQuery(q=tree, limit=10_000)))
    except BadRequestData:
        return "refused"
    return {int(e["id"].rsplit(":", 1)[1]) for e in result.entities if e["id"].startswith(prefix)}


def _only(entities: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [e for e in entities if e["id"].startswith(prefix)]


@settings(max_examples=200, deadline=None)
@given(_CASE_Q)
def test_random_q_over_the_case_entities(
    stores: list[tuple[Backend, list[dict[str, Any]], list[dict[str, Any]]]], text: str
) -> None:
    try:
        tree = expand_q(parse_q(text), expand)
    except BadRequestData:
        return
    for b, cases, _ in stores:
        got = _numbers(_only(cases, "urn:E:"), tree)
        assert got == _store_numbers(b, tree, "urn:E:"), (b.name, text)


@settings(max_examples=400, deadline=None)
@given(_Q)
def test_random_q_over_random_entities(
    stores: list[tuple[Backend, list[dict[str, Any]], list[dict[str, Any]]]], text: str
) -> None:
    try:
        tree = expand_q(parse_q(text), expand)
    except BadRequestData:
        return
    for b, _, generated in stores:
        assert _numbers(generated, tree) == _store_numbers(b, tree, "urn:R:"), (b.name, text)
