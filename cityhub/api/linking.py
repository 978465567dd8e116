"""Rendering retrieved entities for a response: linked entity retrieval (clause 4.5.23,
``join=inline|flat``, ``joinLevel``), the linked entities inline or appended, and the Feature
geometries of the GeoJSON representation (clause 4.5.16). Fetching linked entities is the
service :func:`cityhub.linked.fetch_linked` (one store query per level), shared with
notifications."""

from __future__ import annotations

from typing import Any

from cityhub.linked import fetch_linked
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.geojson_render import DEFAULT_GEOMETRY_PROPERTY, feature_geometries
from cityhub.ngsild.names import check_name
from cityhub.ngsild.render import Projection, render_entity
from cityhub.store.base import EntityQuery, Store


async def render_with_links(
    store: Store,
    tenant: str,
    entities: list[Entity],
    terms: TermMap,
    proj: Projection,
    join: str | None,
    level: int,
    *,
    permitted: tuple[EntityQuery, ...] | None = None,
) -> list[dict[str, Any]]:
    """Rendered entities, with linked ones inline or appended (flat), empty ones dropped."""
    if join is None:
        docs = [render_entity(e, terms, proj) for e in entities]
        return [d for d in docs if d]
    pairs = await render_pairs(
        store, tenant, entities, terms, proj, join, level, permitted=permitted
    )
    return [doc for _, doc in pairs]


async def render_pairs(
    store: Store,
    tenant: str,
    entities: list[Entity],
    terms: TermMap,
    proj: Projection,
    join: str | None,
    level: int,
    *,
    permitted: tuple[EntityQuery, ...] | None = None,
) -> list[tuple[Entity, dict[str, Any]]]:
    """:func:`render_with_links` with each rendering next to the stored entity it renders
    (the GeoJSON representation takes its geometry from the stored one when the projection
    left the geometry attribute out). ``permitted``: linked entities are those the caller may
    read (access control)."""
    if join is None:
        pairs = [(e, render_entity(e, terms, proj)) for e in entities]
        return [(e, d) for e, d in pairs if d]
    linked, flat = await fetch_linked(store, tenant, entities, proj, level, permitted)
    if join == "inline":
        pairs = [(e, render_entity(e, terms, proj, linked, level)) for e in entities]
        return [(e, d) for e, d in pairs if d]
    pairs = [(e, render_entity(e, terms, proj)) for e in entities]
    seen = {e["id"] for e in entities}
    for entity, sub in flat:
        if entity["id"] not in seen:
            seen.add(entity["id"])
            pairs.append((entity, render_entity(entity, terms, sub)))
    return [(e, d) for e, d in pairs if d]


async def render_geojson(
    store: Store,
    tenant: str,
    entities: list[Entity],
    terms: TermMap,
    proj: Projection,
    join: str | None,
    level: int,
    geometry_property: str | None,
    *,
    permitted: tuple[EntityQuery, ...] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
    """:func:`render_with_links` for the GeoJSON representation: the documents and their
    Feature geometries, those of the ``geometryProperty`` GeoProperty (default ``location``)
    even where ``attrs``, ``pick`` or ``omit`` left it out of the document (clause 4.5.16).

    Raises:
        BadRequestData: ``geometryProperty`` is not an attribute name.
    """
    name = geometry_property or DEFAULT_GEOMETRY_PROPERTY
    iri = terms.expand(check_name(name, "geometryProperty"))
    pairs = await render_pairs(
        store, tenant, entities, terms, proj, join, level, permitted=permitted
    )
    return [doc for _, doc in pairs], feature_geometries(pairs, iri, name)
