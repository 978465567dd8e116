"""Measure fragments expanded to the internal entity form, with what repeats remembered.

A device's messages name the same entity, type and attributes every time, and most of their
values are plain Properties (a number or a text, ``unitCode``, ``observedAt``): checking and
expanding each name, and validating each such instance member by member
(:func:`cityhub.ngsild.entity.expand_entity`), was a tenth of a measure's cost in the hub.
:class:`FragmentExpander` gives the same result and refuses the same payloads: names, types
and ids are checked once each and remembered (only those that passed), and a value of that
plain shape is taken as it is; any other instance (a GeoProperty, a Relationship, a
sub-attribute, an object value) goes through ``expand_attribute`` as before.
"""

from __future__ import annotations

from typing import Any

from cityhub.ngsild.datetime import check_datetime
from cityhub.ngsild.entity import Entity, Terms, expand_attribute, expand_name, expand_types
from cityhub.ngsild.names import ENTITY_MEMBERS, GEO_ATTRIBUTES, check_uri

#: the members a plain Property instance of a measure may have to be taken as it is
_PLAIN_MEMBERS = frozenset({"type", "value", "observedAt", "unitCode"})
#: names, types and ids remembered per expander (a tenant's devices name a few hundred)
_MAX_REMEMBERED = 10_000


class FragmentExpander:
    """Expands compact entity fragments with one @context's ``terms``, remembering the names,
    types, ids and times it has checked.

    Args:
        terms: the resolved @context the fragments' names expand with.
    """

    def __init__(self, terms: Terms) -> None:
        self.terms = terms
        self._names: dict[str, str] = {}
        self._types: dict[Any, list[str]] = {}
        self._ids: set[str] = set()
        #: the last ``observedAt`` checked (a message's instances share one)
        self._time: str | None = None

    def expand(self, fragment: dict[str, Any], checked_time: str | None = None) -> Entity:
        """The fragment (``id``, ``type`` and attributes, as
        :func:`cityhub.iot.measures.fragments` builds them) in the internal form; its plain
        instances are taken, not copied (a fragment is built for one message).

        Args:
            checked_time: an ``observedAt`` known to be valid (the hub's time of receipt).

        Raises:
            BadRequestData: what :func:`cityhub.ngsild.entity.expand_entity` refuses.
        """
        entity: Entity = {"id": self._id(fragment["id"]), "type": self._type(fragment["type"])}
        attrs: dict[str, list[dict[str, Any]]] = {}
        for name, value in fragment.items():
            if name in ENTITY_MEMBERS:
                continue
            iri = self._name(name)
            if self._plain(name, iri, value, checked_time):
                attrs[iri] = [value]
            else:
                attrs[iri] = expand_attribute(iri, value, self.terms, name=name)
        entity["attrs"] = attrs
        return entity

    def _plain(self, name: str, iri: str, inst: Any, checked_time: str | None) -> bool:
        """Whether ``expand_instance`` would return this instance member for member: a
        Property whose value is a number, boolean or text, with a text ``unitCode`` and a
        valid ``observedAt`` at most, not one of the attributes that must be GeoProperties."""
        if (
            not isinstance(inst, dict)
            or inst.get("type") != "Property"
            or not isinstance(inst.get("value"), int | float | str)
            or not inst.keys() <= _PLAIN_MEMBERS
            or not isinstance(inst.get("unitCode", ""), str)
            or iri in GEO_ATTRIBUTES
        ):
            return False
        observed = inst.get("observedAt")
        if observed is None or observed == checked_time or observed == self._time:
            return True
        if not isinstance(observed, str):
            return False
        check_datetime(observed, f"attribute {name}: observedAt")  # as expand_instance does
        self._time = observed
        return True

    def _name(self, name: str) -> str:
        iri = self._names.get(name)
        if iri is None:
            iri = expand_name(name, self.terms, "attribute name")
            if len(self._names) >= _MAX_REMEMBERED:
                self._names.clear()
            self._names[name] = iri
        return iri

    def _type(self, value: Any) -> list[str]:
        key = value if isinstance(value, str) else None
        found = self._types.get(key) if key is not None else None
        if found is None:
            found = expand_types(value, self.terms, "entity type")
            if key is not None:
                if len(self._types) >= _MAX_REMEMBERED:
                    self._types.clear()
                self._types[key] = found
        return list(found)

    def _id(self, value: Any) -> str:
        if isinstance(value, str) and value in self._ids:
            return value
        checked = check_uri(value, "entity id")
        if len(self._ids) >= _MAX_REMEMBERED:
            self._ids.clear()
        self._ids.add(checked)
        return checked


__all__ = ["FragmentExpander"]
