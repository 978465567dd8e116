"""Reading a context source's entities into the internal form, cheaply (ETSI GS CIM 009
v1.8.1 clause 4.3.6.2: the broker merges what sources answer with its own entities).

A source's answer is untrusted input and is checked like a client's (names, URIs,
date-times, geometries: a source never makes the hub store or render what a client could
not send). But a query's answer repeats itself: the same attribute names, types and
``observedAt`` values entity after entity, in the normalized form this hub asks for. A
:class:`SourceReader` is made per answer and remembers what it already checked; the
commonest instances (a Property, GeoProperty or Relationship in normalized form, with
sub-attributes of the same kinds) take a short road, and anything else (concise values,
arrays of instances, other attribute types, or anything the short road does not accept)
goes through :func:`cityhub.ngsild.entity.expand_entity`, so the result and the errors are
the same as the general road's (``tests/federation/test_reader.py`` compares them).
"""

from __future__ import annotations

from typing import Any, Final

from cityhub.ngsild.datetime import check_datetime
from cityhub.ngsild.entity import Entity, Instance, Terms, expand_entity, expand_name
from cityhub.ngsild.geojson import check_geometry
from cityhub.ngsild.names import (
    ATTRIBUTE_MEMBERS,
    ENTITY_MEMBERS,
    GEO_ATTRIBUTES,
    VALUE_MEMBER,
    check_uri,
)

#: The attribute types of the short road, with their value member.
_SHORT: Final = {"Property": "value", "GeoProperty": "value", "Relationship": "object"}
#: Members of an instance that expansion leaves out (system members are the broker's own).
_DROPPED: Final = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId", "@context"})
_VALUE_MEMBERS: Final = frozenset(VALUE_MEMBER.values())


class _Detour(Exception):
    """The short road does not take this entity: the general one reads it."""


def _dataset(instance: Any) -> str:
    dataset = instance.get("datasetId") if isinstance(instance, dict) else None
    return dataset if isinstance(dataset, str) else "@none"


def remote_entity(body: Any, terms: Terms) -> Entity:
    """A source's entity (normalized, compacted with the ``@context`` it was sent) in the
    internal form, read the general way; the ``modifiedAt`` of its instances, when the source
    gave them, kept for the merge.

    Raises:
        CityhubError: ``body`` is not a valid NGSI-LD entity.
    """
    entity = expand_entity(body, terms)
    for name, value in body.items():
        if name in ENTITY_MEMBERS:
            continue
        stamps = {
            _dataset(raw): raw["modifiedAt"]
            for raw in (value if isinstance(value, list) else [value])
            if isinstance(raw, dict) and isinstance(raw.get("modifiedAt"), str)
        }
        if stamps:
            for inst in entity["attrs"].get(terms.expand(name), ()):
                if _dataset(inst) in stamps:
                    inst["modifiedAt"] = stamps[_dataset(inst)]
    return entity


class SourceReader:
    """Reads the entities of one source's answer (see the module docstring).

    Args:
        terms: the @context the source's answer is compacted with.
    """

    def __init__(self, terms: Terms) -> None:
        self._terms = terms
        self._names: dict[tuple[str, str], str] = {}
        self._types: dict[str, list[str]] = {}
        self._times: set[str] = set()

    def entity(self, body: Any) -> Entity:
        """``body`` in the internal form, as :func:`remote_entity` gives it.

        Raises:
            CityhubError: ``body`` is not a valid NGSI-LD entity.
        """
        try:
            return self._short(body)
        except _Detour:
            return remote_entity(body, self._terms)

    def _name(self, name: Any, what: str) -> str:
        if type(name) is not str:
            raise _Detour
        key = (name, what)
        iri = self._names.get(key)
        if iri is None:
            iri = self._names[key] = expand_name(name, self._terms, what)
        return iri

    def _short(self, body: Any) -> Entity:
        if type(body) is not dict or "@id" in body or "@type" in body or "scope" in body:
            raise _Detour
        kind = body.get("type")
        if type(kind) is not str or "id" not in body:
            raise _Detour
        types = self._types.get(kind)
        if types is None:
            types = self._types[kind] = [expand_name(kind, self._terms, "entity type")]
        entity: Entity = {"id": check_uri(body["id"], "entity id"), "type": list(types)}
        attrs: dict[str, list[Instance]] = {}
        for name, value in body.items():
            if name in ENTITY_MEMBERS:
                continue
            iri = self._name(name, "attribute name")
            inst = self._instance(iri, value, name)
            stamp = value.get("modifiedAt")
            if type(stamp) is str:
                inst["modifiedAt"] = stamp
            attrs[iri] = [inst]
        entity["attrs"] = attrs
        return entity

    def _instance(self, iri: str, item: Any, label: str) -> Instance:
        if type(item) is not dict:
            raise _Detour
        kind = item.get("type")
        member = _SHORT.get(kind) if type(kind) is str else None
        if member is None or member not in item:
            raise _Detour
        value = item[member]
        if value is None or (iri in GEO_ATTRIBUTES and kind != "GeoProperty"):
            raise _Detour
        inst: Instance = {"type": kind, member: value}
        for key, val in item.items():
            if key == "type" or key == member or key in _DROPPED:
                continue
            if key in ATTRIBUTE_MEMBERS:
                if key in _VALUE_MEMBERS:
                    raise _Detour
                inst[key] = val
                continue
            sub_iri = self._name(key, "sub-attribute name")
            inst[sub_iri] = self._instance(sub_iri, val, f"{label}.{key}")
        if kind == "GeoProperty":
            check_geometry(value, f"attribute {label}")
        elif kind == "Relationship":
            for obj in value if type(value) is list else (value,):
                check_uri(obj, f"relationship {label}: object")
            if type(value) is list and not value:
                raise _Detour
        elif type(value) is dict and "@value" not in value:
            if value.get("type") in ("Property", "Relationship"):
                raise _Detour
        if "datasetId" in inst:
            check_uri(inst["datasetId"], f"attribute {label}: datasetId")
        if "observedAt" in inst:
            observed = inst["observedAt"]
            if not (type(observed) is str and observed in self._times):
                self._times.add(check_datetime(observed, f"attribute {label}: observedAt"))
        if "unitCode" in inst and type(inst["unitCode"]) is not str:
            raise _Detour
        return inst


__all__ = ["SourceReader", "remote_entity"]
