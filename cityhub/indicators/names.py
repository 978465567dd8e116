"""Reading entities by attribute name, whatever @context named them, and the names the
indicator entities are written with (the core @context's expansion). Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cityhub.ngsild.context import TermMap, build_term_map
from cityhub.ngsild.plain import local_name, plain_value

_CORE: list[TermMap] = []


def iri(name: str) -> str:
    """A name as the core @context expands it (a client using the core @context, as the demo
    does, reads the KPI entities by their Smart Data Models short names)."""
    if not _CORE:
        _CORE.append(build_term_map(None, {}))
    return _CORE[0].expand(name)


def number_of(value: Any) -> float | None:
    """A finite number as a float; None for anything else (text, booleans, NaN, overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def attribute(entity: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The default instance of the attribute ``name`` (else its first), None without one."""
    for key, instances in entity.get("attrs", {}).items():
        if local_name(key) == name and instances:
            for inst in instances:
                if "datasetId" not in inst:
                    return dict(inst)
            return dict(instances[0])
    return None


def types_of(entity: Mapping[str, Any]) -> set[str]:
    return {local_name(t) for t in entity.get("type", ())}


__all__ = [
    "attribute",
    "iri",
    "local_name",
    "number_of",
    "plain_value",
    "types_of",
]
