"""Entity bodies that repeat themselves, read into the internal form cheaply.

Two callers read many entities that name the same types and attributes over and over: the
federation reading a context source's answer (clause 4.3.6.2, the broker merges what sources
answer) and the IoT agent expanding a device's measures. Both bodies are untrusted and are
checked like a client's, but checking and expanding each name, type, id and ``observedAt``
again, and validating each instance member by member
(:func:`cityhub.ngsild.entity.expand_entity`), was a tenth of their cost.

An :class:`EntityReader` remembers the names, types, ids and times it has checked (only those
that passed, and at most ``_MAX_REMEMBERED`` of each), and the commonest instances (a
Property, GeoProperty or Relationship in normalized form, with sub-attributes of the same
kinds) take a short road. Anything else (concise values, arrays of instances, other attribute
types, ``scope``, or anything the short road finds wrong) goes through ``expand_entity``: the
result is the same, and a refusal is the general road's own (class and detail), which
``tests/ngsild/test_entity_reader.py`` checks on random mutations of both callers' bodies.
"""

from __future__ import annotations

from typing import Any, Final

from cityhub.errors import CityhubError
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
#: names, types, ids and times remembered per reader (a tenant's devices name a few hundred)
_MAX_REMEMBERED: Final = 10_000


class _Detour(Exception):
    """The short road does not take this entity: the general one reads it."""


def _dataset(instance: Any) -> str:
    dataset = instance.get("datasetId") if isinstance(instance, dict) else None
    return dataset if isinstance(dataset, str) else "@none"


def keep_modified_at(entity: Entity, body: dict[str, Any], terms: Terms) -> Entity:
    """``entity`` (``body`` expanded) with the ``modifiedAt`` that ``body``'s instances gave,
    which expansion leaves out: a context source's times, kept for the merge (clause
    4.3.6.2)."""
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


class _Memo(dict[str, Any]):
    """A dict that forgets everything past ``_MAX_REMEMBERED`` entries (a client inventing
    names cannot grow it without bound)."""

    def remember(self, key: str, value: Any) -> Any:
        if len(self) >= _MAX_REMEMBERED:
            self.clear()
        self[key] = value
        return value


class EntityReader:
    """Reads entity bodies compacted with one @context (see the module docstring).

    Args:
        terms: the @context the bodies are compacted with.
        keep_modified: keep the ``modifiedAt`` the body's instances give (a context source's
            answer), as :func:`keep_modified_at` does; otherwise it is left out, as
            ``expand_entity`` leaves it.
    """

    def __init__(self, terms: Terms, *, keep_modified: bool = False) -> None:
        self.terms = terms
        self.keep_modified = keep_modified
        self._names = _Memo()
        self._types = _Memo()
        self._ids = _Memo()
        self._times = _Memo()

    def entity(self, body: Any, checked_time: str | None = None) -> Entity:
        """``body`` in the internal form, as :meth:`general` gives it.

        Args:
            checked_time: an ``observedAt`` known to be valid (the IoT agent's time of
                receipt), not checked again.

        Raises:
            CityhubError: what ``expand_entity`` refuses, with its detail.
        """
        try:
            return self._short(body, checked_time)
        except (_Detour, CityhubError):
            return self.general(body)

    def general(self, body: Any) -> Entity:
        """``body`` read by ``expand_entity`` (the ``modifiedAt`` kept when the reader keeps
        it).

        Raises:
            CityhubError: ``body`` is not a valid NGSI-LD entity.
        """
        entity = expand_entity(body, self.terms)
        return keep_modified_at(entity, body, self.terms) if self.keep_modified else entity

    def _name(self, name: Any) -> str:
        if type(name) is not str:
            raise _Detour
        iri = self._names.get(name)
        if iri is None:
            iri = self._names.remember(name, expand_name(name, self.terms, "attribute name"))
        return iri  # type: ignore[no-any-return]

    def _short(self, body: Any, checked_time: str | None = None) -> Entity:
        if type(body) is not dict or "@id" in body or "@type" in body or "scope" in body:
            raise _Detour
        kind = body.get("type")
        entity_id = body.get("id")
        if type(kind) is not str or type(entity_id) is not str:
            raise _Detour
        types = self._types.get(kind)
        if types is None:
            types = self._types.remember(kind, [expand_name(kind, self.terms, "entity type")])
        if entity_id not in self._ids:
            self._ids.remember(check_uri(entity_id, "entity id"), True)
        entity: Entity = {"id": entity_id, "type": list(types)}
        attrs: dict[str, list[Instance]] = {}
        for name, value in body.items():
            if name in ENTITY_MEMBERS:
                continue
            iri = self._name(name)
            inst = self._instance(iri, value, name, checked_time)
            if self.keep_modified:
                stamp = value.get("modifiedAt")
                if type(stamp) is str:
                    inst["modifiedAt"] = stamp
            attrs[iri] = [inst]
        entity["attrs"] = attrs
        return entity

    def _instance(self, iri: str, item: Any, label: str, checked_time: str | None) -> Instance:
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
            sub_iri = self._name(key)
            inst[sub_iri] = self._instance(sub_iri, val, f"{label}.{key}", checked_time)
        if kind == "GeoProperty":
            check_geometry(value, f"attribute {label}")
        elif kind == "Relationship":
            if type(value) is list and not value:
                raise _Detour
            for obj in value if type(value) is list else (value,):
                check_uri(obj, f"relationship {label}: object")
        elif type(value) is dict and "@value" not in value:
            if value.get("type") in ("Property", "Relationship"):
                raise _Detour
        if "datasetId" in inst:
            check_uri(inst["datasetId"], f"attribute {label}: datasetId")
        if "observedAt" in inst:
            observed = inst["observedAt"]
            if type(observed) is not str:
                raise _Detour
            if observed != checked_time and observed not in self._times:
                check_datetime(observed, f"attribute {label}: observedAt")
                self._times.remember(observed, True)
        if "unitCode" in inst and type(inst["unitCode"]) is not str:
            raise _Detour
        return inst


__all__ = ["EntityReader", "keep_modified_at"]
