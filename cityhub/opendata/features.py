"""Entities as the open views show them (issue 19): each public attribute as a plain value
(NGSI-LD's simplified form), the GeoProperty ``location`` as the geometry. Pure.

An attribute with several instances (``datasetId``) shows its default instance (the one
without a datasetId), else its first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cityhub.ngsild.entity import Entity, Instance
from cityhub.opendata.rules import Publication, term_of

#: the member that holds each attribute type's value
_VALUE = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}


def default_instance(instances: list[Instance]) -> Instance | None:
    for instance in instances:
        if "datasetId" not in instance:
            return instance
    return instances[0] if instances else None


def plain_value(instance: Instance) -> Any:
    """An instance's value: a date-time's text (not its ``@value`` object), a
    LanguageProperty's language map, a Relationship's object."""
    value = instance.get(_VALUE.get(instance.get("type", "Property"), "value"))
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    return value


def public_instances(entity: Entity, publication: Publication) -> Iterator[tuple[str, Instance]]:
    """(attribute IRI, default instance) of each public attribute of ``entity``."""
    for iri, instances in entity.get("attrs", {}).items():
        if publication.is_public(iri):
            instance = default_instance(instances)
            if instance is not None:
                yield iri, instance


def geometry(entity: Entity, publication: Publication) -> dict[str, Any] | None:
    """The entity's public ``location`` (a GeoJSON geometry), or None."""
    iri = publication.geometry_attribute
    if iri is None:
        return None
    instance = default_instance(entity.get("attrs", {}).get(iri) or [])
    if instance is None or instance.get("type") != "GeoProperty":
        return None
    value = instance.get("value")
    return value if isinstance(value, dict) else None


def properties(entity: Entity, publication: Publication) -> dict[str, Any]:
    """The public attributes by name (the core @context's terms), ``location`` left out."""
    geo = publication.geometry_attribute
    public = publication.attributes
    out: dict[str, Any] = {}
    for iri, instances in entity.get("attrs", {}).items():  # every feature: kept tight
        if iri == geo or not instances or (public is not None and iri not in public):
            continue
        instance = instances[0]
        if "datasetId" in instance:
            instance = default_instance(instances) or instance
        value = instance.get(_VALUE.get(instance.get("type", "Property"), "value"))
        if value.__class__ is dict and "@value" in value:
            value = value["@value"]
        out[term_of(iri)] = value
    return out


def feature(entity: Entity, publication: Publication) -> dict[str, Any]:
    """A GeoJSON Feature (RFC 7946) of the entity: its id, its public location, its public
    attributes."""
    return {
        "type": "Feature",
        "id": entity["id"],
        "geometry": geometry(entity, publication),
        "properties": properties(entity, publication),
    }


__all__ = ["default_instance", "feature", "geometry", "plain_value", "properties"]
