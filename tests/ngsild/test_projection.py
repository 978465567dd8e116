"""pick/omit projection language (clause 4.21) and linked-entity trees (clause 4.5.23)."""

from __future__ import annotations

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild.projection import expand_tree, parse_projection


def test_flat_and_nested() -> None:
    assert parse_projection("id,name") == {"id": None, "name": None}
    assert parse_projection("id,locatedAt{id,name,isInCountry{description}}") == {
        "id": None,
        "locatedAt": {"id": None, "name": None, "isInCountry": {"description": None}},
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "id;name",
        "id,locatedAt{name",
        "id,locatedAt{{name}",
        "id,,name",
        "id,locatedAt{,name}",
        "id,locatedAt{}",
        "a}",
        "a{b}c",
    ],
)
def test_invalid_expressions_are_bad_request_data(text: str) -> None:
    # ETSI 018_18_04..09: each of these is a 400 BadRequestData
    with pytest.raises(BadRequestData):
        parse_projection(text)


def test_expand_keeps_core_members() -> None:
    tree = expand_tree(parse_projection("id,type,name{x}"), lambda t: "https://ex.org/" + t)
    assert tree == {"id": None, "type": None, "https://ex.org/name": {"https://ex.org/x": None}}
