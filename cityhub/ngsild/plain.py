"""Reading an entity of the store's internal form by what its names mean, whatever @context
named them: an IRI's local name, an instance's value as plain JSON. Pure; the city services
(alerts, indicators) match attributes this way so that Smart Data Models' @context, the core
one or a city's own are read alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def local_name(iri: str) -> str:
    """The part of an IRI after its last ``/``, ``#`` or ``:``."""
    return iri[max(iri.rfind("/"), iri.rfind("#"), iri.rfind(":")) + 1 :]


class LocalNames(dict[str, str]):
    """``names[iri]`` is ``local_name(iri)``, remembered: a write transaction's hooks ask it of
    every attribute of every change, and a city's IRIs repeat. Forgets everything past
    ``limit`` names (a client inventing names cannot grow it without bound)."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, iri: str) -> str:
        if len(self) >= self.limit:
            self.clear()
        name = self[iri] = local_name(iri)
        return name


#: the value members plain_value reads, in order (clause 4.5: one per attribute type)
_MEMBERS = ("value", "object", "languageMap", "vocab", "json")
_WRITTEN_MEMBERS = (*_MEMBERS, "valueList")


def plain_value(inst: Any, *, written: bool = False) -> Any:
    """An instance's value as plain JSON: a Property's value (a DateTime as its text), a
    Relationship's object, a LanguageProperty's map, a VocabProperty's vocab, a
    JsonProperty's json; None when there is none.

    Args:
        written: ``inst`` is an attribute as a client writes it in an update, in the
            normalized or the concise form (clause 4.5.1): a value that is not an object is
            the value itself, an object with no value member too (a concise GeoProperty is
            the geometry), and a ListProperty's ``valueList`` is its value. The readers of
            stored entities (the city services, open data) pass False: for them a
            ListProperty has no plain value.
    """
    if inst is None:
        return None
    if written and not isinstance(inst, Mapping):
        return inst
    for member in _WRITTEN_MEMBERS if written else _MEMBERS:
        if member in inst:
            value = inst[member]
            if isinstance(value, dict) and "@value" in value:
                return value["@value"]
            return value
    return inst if written else None


__all__ = ["LocalNames", "local_name", "plain_value"]
