"""The GeoJSON representation of entities (clauses 4.5.16 and 6.3.15, RFC 7946).

Works on entities *already rendered* by :func:`cityhub.ngsild.render.render_entity` (compacted
names; normalized, concise or keyValues), so every format option applies unchanged:

* an entity becomes a ``Feature``: ``id`` is the entity id; ``geometry`` is the value of the
  GeoProperty named by ``geometryProperty`` (default ``location``), or ``null`` when the entity
  has no such GeoProperty; ``properties`` holds every other member of the entity in the requested
  format, ``type`` and the geometry's own attribute included;
* ``attrs``, ``pick`` and ``omit`` select the ``properties`` only: the geometry comes from the
  geometryProperty whether or not the projection keeps it (clause 4.5.16; so Orion-LD reads it,
  FIWARE/context.Orion-LD#728), else every Feature of ``?attrs=pm25`` would be ``null`` and a
  map would draw nothing. :func:`feature_geometries` picks it from the rendered entity when it
  is there, from the stored one when it was projected away;
* a query result becomes a ``FeatureCollection`` of those features;
* the ``@context`` (when the caller passes one, as for ``application/geo+json``) is the last member
  of the single Feature, or of the FeatureCollection and not repeated in its features.

When the geometry attribute has several instances (datasetIds) the default instance (the one
with no ``datasetId``) is used, else the first. In keyValues form the type of an attribute is
gone, so any value that is a GeoJSON geometry serves; in the other forms only a GeoProperty does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cityhub.ngsild.geojson import GEOMETRY_TYPES

DEFAULT_GEOMETRY_PROPERTY = "location"
_UNSET: Any = object()


def _is_geometry(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in GEOMETRY_TYPES
        and isinstance(value.get("coordinates"), list)
    )


def _instance_geometry(inst: Any) -> dict[str, Any] | None:
    if _is_geometry(inst):  # keyValues, or concise without sub-attributes
        geometry: dict[str, Any] = inst
        return geometry
    if isinstance(inst, dict) and inst.get("type", "GeoProperty") == "GeoProperty":
        value: Any = inst.get("value")
        if _is_geometry(value):
            geometry = value
            return geometry
    return None


def feature_geometry(attribute: Any) -> dict[str, Any] | None:
    """The geometry of one rendered attribute (any format), or None if it is no GeoProperty."""
    if not isinstance(attribute, list):
        return _instance_geometry(attribute)
    default = [i for i in attribute if not (isinstance(i, dict) and "datasetId" in i)]
    for inst in default + [i for i in attribute if i not in default]:
        geometry = _instance_geometry(inst)
        if geometry is not None:
            return geometry
    return None


def internal_geometry(entity: dict[str, Any], iri: str) -> dict[str, Any] | None:
    """The geometry of GeoProperty ``iri`` of an entity in the *internal* form (``attrs``).

    For callers whose projection (``attrs``, ``pick``) leaves the geometry attribute out of the
    rendered entity but who still want it as the Feature's ``geometry``.
    """
    instances = (entity.get("attrs") or {}).get(iri)
    return feature_geometry(instances) if isinstance(instances, list) else None


def feature_geometries(
    pairs: Iterable[tuple[dict[str, Any], dict[str, Any]]], iri: str, name: str | None = None
) -> list[dict[str, Any] | None]:
    """The Feature geometry of each (stored entity, rendered entity) pair.

    Args:
        pairs: each entity in the internal form (``attrs`` by IRI) with its rendering.
        iri: the expanded name of the geometryProperty.
        name: its compacted name, as the rendering spells it; ``location`` when None.

    Returns:
        The geometry of the rendered attribute when the projection kept it (so ``datasetId``
        and the format apply as for the Feature's properties), else that of the stored one
        (:func:`internal_geometry`); None where the entity has no such GeoProperty.
    """
    name = name or DEFAULT_GEOMETRY_PROPERTY
    return [
        feature_geometry(doc[name]) if name in doc else internal_geometry(entity, iri)
        for entity, doc in pairs
    ]


def _feature(entity: dict[str, Any], name: str, geometry: Any = _UNSET) -> dict[str, Any]:
    feature: dict[str, Any] = {}
    if "id" in entity:
        feature["id"] = entity["id"]
    feature["type"] = "Feature"
    if geometry is _UNSET:
        geometry = feature_geometry(entity[name]) if name in entity else None
    feature["geometry"] = geometry
    feature["properties"] = {k: v for k, v in entity.items() if k not in ("id", "@context")}
    return feature


def render_feature(
    entity: dict[str, Any],
    geometry_property: str | None = None,
    context: Any = None,
    geometry: Any = _UNSET,
) -> dict[str, Any]:
    """One rendered entity as a GeoJSON Feature (clause 4.5.16.1).

    Args:
        entity: the output of ``render_entity`` (an ``@context`` member in it is moved, not kept
            in ``properties``).
        geometry_property: the compacted name of the GeoProperty to use as ``geometry``
            (the ``geometryProperty`` parameter); ``location`` when None or empty.
        context: the ``@context`` to place in the Feature; when None, the entity's own
            ``@context`` member if it has one, else none.
        geometry: the Feature's geometry when the caller has already chosen it (see
            :func:`internal_geometry`); by default it is read from ``entity``.

    Returns:
        ``{"id", "type": "Feature", "geometry", "properties", "@context"?}``.
    """
    feature = _feature(entity, geometry_property or DEFAULT_GEOMETRY_PROPERTY, geometry)
    if context is None:
        context = entity.get("@context")
    if context is not None:
        feature["@context"] = context
    return feature


def render_feature_collection(
    entities: Iterable[dict[str, Any]],
    geometry_property: str | None = None,
    context: Any = None,
    geometries: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Rendered entities as a GeoJSON FeatureCollection (clause 4.5.16.2).

    Args:
        entities: outputs of ``render_entity``; their own ``@context`` members are dropped.
        geometry_property: as for :func:`render_feature`.
        context: the ``@context`` to place once, at the top of the collection; left out when
            None.
        geometries: the Features' geometries, one per entity, when the caller has chosen them
            (:func:`feature_geometries`); by default each is read from its entity.

    Returns:
        ``{"type": "FeatureCollection", "features": [...], "@context"?}``.
    """
    name = geometry_property or DEFAULT_GEOMETRY_PROPERTY
    if geometries is None:
        features = [_feature(e, name) for e in entities]
    else:
        features = [_feature(e, name, g) for e, g in zip(entities, geometries, strict=True)]
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if context is not None:
        collection["@context"] = context
    return collection
