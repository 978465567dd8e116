"""The ``pick`` / ``omit`` projection language (clause 4.21, v1.8): a comma-separated list of
entity members, each optionally followed by ``{...}`` naming members of the entities it links
to (linked entity retrieval, clause 4.5.23), e.g. ``id,locatedAt{id,name,isInCountry{id}}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Union

from cityhub.errors import BadRequestData

#: member name → None (the member itself) or a tree for the entities the member links to
Tree = dict[str, Union["Tree", None]]

_NAME = re.compile(r"[^,{}\s;]+")


def parse_projection(text: str, param: str = "pick") -> Tree:
    """Parse a pick/omit value.

    Raises:
        BadRequestData: empty elements, unbalanced or empty braces, forbidden characters.
    """
    pos = 0

    def fail(why: str) -> BadRequestData:
        return BadRequestData(
            f"{param}: {why} at position {pos + 1} in {text!r} (expected "
            "names separated by ',', with optional {...} for linked entities)"
        )

    def parse_list(depth: int) -> Tree:
        nonlocal pos
        if depth > 8:
            raise fail("nesting too deep")
        tree: Tree = {}
        while True:
            m = _NAME.match(text, pos)
            if m is None:
                raise fail("a name is missing")
            name = m.group(0)
            pos = m.end()
            sub: Tree | None = None
            if pos < len(text) and text[pos] == "{":
                pos += 1
                sub = parse_list(depth + 1)
                if pos >= len(text) or text[pos] != "}":
                    raise fail("'{' is not closed")
                pos += 1
            tree[name] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            return tree

    if not text:
        raise BadRequestData(f"{param} must not be empty")
    result = parse_list(0)
    if pos != len(text):
        raise fail(f"unexpected {text[pos]!r}")
    return result


def expand_tree(tree: Tree, expand: Callable[[str], str]) -> Tree:
    """Names to IRIs; ``id``, ``type`` and ``scope`` stay as they are."""
    out: Tree = {}
    for name, sub in tree.items():
        key = name if name in ("id", "type", "scope") else expand(name)
        out[key] = expand_tree(sub, expand) if sub is not None else None
    return out
