"""Open data exports (issue 19 item 4) under ``/opendata``: a published type's current state
(``/opendata/{type}.csv``, ``.geojson``, ``.parquet``) and a UTC day of its history when the
rule publishes history (``/opendata/{type}/history/{YYYY-MM-DD}.csv``, ``.parquet``), streamed
(``cityhub.opendata.exports``). ``district`` (an AdministrativeArea's id, of a published type)
keeps the entities located within it. The caller is access control's public, as for OGC API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cityhub.api import negotiation as neg
from cityhub.api.publishing import publishing_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.query.geo import GeoQuery
from cityhub.opendata import exports
from cityhub.opendata.features import geometry
from cityhub.opendata.rules import Publication
from cityhub.store.base import EntityQuery

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "parquet": "application/vnd.apache.parquet",
}
_AREAS = ("Polygon", "MultiPolygon")


def _split(file: str, formats: tuple[str, ...]) -> tuple[str, str]:
    name, dot, fmt = file.rpartition(".")
    if not dot or fmt not in formats:
        raise ResourceNotFound(
            f"there is no export {file!r}: name one as <collection>.{{{','.join(formats)}}}"
        )
    return name, fmt


def _only(request: Request, *names: str) -> None:
    for name in request.query_params:
        if name not in names:
            raise BadRequestData(f"unknown parameter {name!r}: exports take {', '.join(names)}")


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return float(value)


async def _query(request: Request, tenant: str, publication: Publication) -> EntityQuery:
    """The published type's entities, within ``district`` when one is given."""
    query = EntityQuery(types=(publication.type,))
    district = request.query_params.get("district")
    if district is None:
        return query
    where = publication.geometry_attribute
    if where is None:
        raise BadRequestData(f"{publication.name} publishes no location: no district filter")
    entity = await request.app.state.store.get_entity(tenant, district)
    published = await publishing_of(request).published(tenant)
    area = None
    if entity is not None:
        for candidate in published:
            if candidate.type in entity.get("type", ()):
                area = geometry(entity, candidate)
                break
    if area is None or area.get("type") not in _AREAS:
        raise BadRequestData(
            f"district {district!r} is not a published area: give the id of an entity of a "
            "published type with a public Polygon or MultiPolygon location (an "
            "AdministrativeArea)"
        )
    coordinates = _tuples(area["coordinates"])
    return EntityQuery(
        types=(publication.type,), geo=GeoQuery("within", area["type"], coordinates, where)
    )


def _stream(body: AsyncIterator[bytes], fmt: str, filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def export_current(request: Request) -> Response:
    _only(request, "district")
    name, fmt = _split(request.path_params["file"], ("csv", "geojson", "parquet"))
    tenant = neg.tenant_of(request)
    publication = await publishing_of(request).publication(tenant, name)
    query = await _query(request, tenant, publication)
    store = request.app.state.store
    filename = f"{publication.name}.{fmt}"
    if fmt == "geojson":
        return _stream(exports.geojson_export(store, tenant, publication, query), fmt, filename)
    # the first pass runs before the answer starts: a failure is still a ProblemDetails
    plan = await exports.plan_export(store, tenant, publication, query)
    if fmt == "csv":
        body = exports.csv_export(store, tenant, publication, query, plan)
    else:
        body = exports.parquet_export(store, tenant, publication, query, plan)
    return _stream(body, fmt, filename)


def _day(text: str) -> tuple[str, str]:
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or day.year >= 9999:
        raise BadRequestData(f"{text!r} is not a day: name the extract YYYY-MM-DD.csv")
    after = day + timedelta(days=1)
    return f"{day.isoformat()}T00:00:00.000000Z", f"{after.isoformat()}T00:00:00.000000Z"


async def export_history(request: Request) -> Response:
    _only(request, "district")
    day_text, fmt = _split(request.path_params["file"], ("csv", "parquet"))
    tenant = neg.tenant_of(request)
    publication = await publishing_of(request).publication(
        tenant, request.path_params["collection_id"]
    )
    if not publication.history:
        raise ResourceNotFound(f"the history of {publication.name} is not published")
    start, end = _day(day_text)
    query = await _query(request, tenant, publication)
    rows = exports.history_rows(
        request.app.state.store, request.app.state.temporal, tenant, publication, query, start, end
    )
    body = exports.history_csv(rows) if fmt == "csv" else exports.history_parquet(rows, publication)
    return _stream(body, fmt, f"{publication.name}-{day_text}.{fmt}")


routes = [
    Route("/opendata/{file}", export_current, methods=["GET"]),
    Route("/opendata/{collection_id}/history/{file}", export_history, methods=["GET"]),
]

__all__ = ["routes"]
