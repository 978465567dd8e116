"""Exports of the published data (issue 19 item 4): the current state of a published type as
CSV, GeoJSON or Parquet, and a day of its history as CSV or Parquet, streamed a page at a time
(memory stays flat however many entities), with the publishing rule's attributes only.

The current state makes two passes over the type's entities, a page at a time: the first finds
the columns (the public attributes present, whether any instance has a unit or an observation
time, and each attribute's kind of value for Parquet's schema), the second writes the rows.
Pages follow the entity ids (each starts after the last id of the one before), so no entity is
seen twice; one created during an export appears if its id sorts after the page being read, and
one deleted meanwhile may be missing from the second pass (a snapshot of a living city).

CSV: UTF-8 with a byte order mark (Excel then reads Korean text right), one row per entity,
columns ``id``, ``geometry`` (WKT, CRS84) and per attribute ``<name>``, ``<name>_unitCode`` and
``<name>_observedAt`` (the last two only where some instance has one). Values are plain values
(``cityhub.opendata.features``); objects and arrays are JSON text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from shapely.geometry import shape

from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import And, AttrPath, Comparison, Node
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.opendata.features import feature, geometry, plain_value, public_instances
from cityhub.opendata.rules import Publication, core_terms
from cityhub.store.base import EntityQuery, OrderItem, Store
from cityhub.store.temporal import TemporalStore

#: entities per page of an export
PAGE = 1000
#: entities per page of a history extract (each with a day of its attributes' instances)
HISTORY_PAGE = 50
BOM = "\ufeff"


async def entity_pages(
    store: Store, tenant: str, query: EntityQuery, page: int = PAGE
) -> AsyncIterator[list[Entity]]:
    """The entities ``query`` matches, a page at a time in id order (its limit, offset and
    order ignored). Each page starts after the last id of the one before (``id>...`` in the
    store query), so a page costs the same at the end of a large type as at its start, where
    an offset would make the store pass over every entity before it again."""
    last: str | None = None
    order = (OrderItem("id"),)
    while True:
        after: Node | None = None
        if last is not None:
            after = Comparison(AttrPath("id"), ">", last)
        q = query.q if after is None else after if query.q is None else And((query.q, after))
        result = await store.query_entities(
            tenant, replace(query, q=q, limit=page, offset=0, count=False, order_by=order)
        )
        if result.entities:
            yield result.entities
            last = result.entities[-1]["id"]
        if len(result.entities) < page:
            return


@dataclass
class Column:
    """What an export writes of one attribute."""

    iri: str
    name: str
    unit: bool = False
    observed: bool = False
    kinds: set[str] = field(default_factory=set)


@dataclass
class Plan:
    """The columns of an export: the geometry (when public) and the attributes found."""

    geometry: bool
    columns: list[Column]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "json"


async def plan_export(
    store: Store, tenant: str, publication: Publication, query: EntityQuery
) -> Plan:
    """The first pass: which columns the export has."""
    found: dict[str, Column] = {}
    geo = publication.geometry_attribute
    terms = core_terms()
    async for page in entity_pages(store, tenant, query):
        for entity in page:
            for iri, instance in public_instances(entity, publication):
                if iri == geo:
                    continue
                column = found.get(iri)
                if column is None:
                    column = found[iri] = Column(iri, terms.compact(iri))
                column.unit = column.unit or "unitCode" in instance
                column.observed = column.observed or "observedAt" in instance
                value = plain_value(instance)
                if value is not None:
                    column.kinds.add(_kind(value))
    return Plan(geo is not None, sorted(found.values(), key=lambda c: c.name))


def _wkt(entity: Entity, publication: Publication) -> str:
    value = geometry(entity, publication)
    if value is None:
        return ""
    try:
        return str(shape(value).wkt)
    except (ValueError, TypeError, AttributeError):  # stored geometries are checked on write
        return ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return orjson.dumps(value).decode()


def csv_header(plan: Plan) -> list[str]:
    header = ["id"] + (["geometry"] if plan.geometry else [])
    for column in plan.columns:
        header.append(column.name)
        if column.unit:
            header.append(f"{column.name}_unitCode")
        if column.observed:
            header.append(f"{column.name}_observedAt")
    return header


def _csv_row(entity: Entity, publication: Publication, plan: Plan) -> list[str]:
    attrs = dict(public_instances(entity, publication))
    row = [entity["id"]] + ([_wkt(entity, publication)] if plan.geometry else [])
    for column in plan.columns:
        instance = attrs.get(column.iri)
        row.append(_text(plain_value(instance)) if instance is not None else "")
        if column.unit:
            row.append(str(instance.get("unitCode", "")) if instance is not None else "")
        if column.observed:
            row.append(str(instance.get("observedAt", "")) if instance is not None else "")
    return row


def _csv_lines(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


async def csv_export(
    store: Store, tenant: str, publication: Publication, query: EntityQuery, plan: Plan
) -> AsyncIterator[bytes]:
    """The current state as CSV (see the module's docstring), a page at a time."""
    yield BOM.encode("utf-8") + _csv_lines([csv_header(plan)])
    async for page in entity_pages(store, tenant, query):
        yield _csv_lines([_csv_row(e, publication, plan) for e in page])


async def geojson_export(
    store: Store, tenant: str, publication: Publication, query: EntityQuery
) -> AsyncIterator[bytes]:
    """The current state as a GeoJSON FeatureCollection (RFC 7946), a page at a time."""
    yield b'{"type":"FeatureCollection","features":['
    first = True
    async for page in entity_pages(store, tenant, query):
        chunk = b",".join(orjson.dumps(feature(e, publication)) for e in page)
        yield chunk if first else b"," + chunk
        first = False
    yield b"]}"


class _Chunks(io.RawIOBase):
    """Where Parquet's writer writes: the bytes since the last :meth:`take`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _arrow_type(column: Column) -> pa.DataType:
    if column.kinds == {"number"}:
        return pa.float64()
    if column.kinds == {"bool"}:
        return pa.bool_()
    return pa.string()


def parquet_schema(plan: Plan) -> pa.Schema:
    fields = [pa.field("id", pa.string(), nullable=False)]
    if plan.geometry:
        fields.append(pa.field("geometry", pa.string()))  # WKT, CRS84
    for column in plan.columns:
        fields.append(pa.field(column.name, _arrow_type(column)))
        if column.unit:
            fields.append(pa.field(f"{column.name}_unitCode", pa.string()))
        if column.observed:
            fields.append(pa.field(f"{column.name}_observedAt", _TIMESTAMP))
    return pa.schema(fields)


def _timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _cell(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == pa.float64():
        return float(value) if _kind(value) == "number" else None
    if kind == pa.bool_():
        return value if isinstance(value, bool) else None
    return _text(value)


def _parquet_columns(
    page: list[Entity], publication: Publication, plan: Plan, schema: pa.Schema
) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {name: [] for name in schema.names}
    for entity in page:
        attrs = dict(public_instances(entity, publication))
        data["id"].append(entity["id"])
        if plan.geometry:
            data["geometry"].append(_wkt(entity, publication) or None)
        for column in plan.columns:
            instance = attrs.get(column.iri)
            value = plain_value(instance) if instance is not None else None
            data[column.name].append(_cell(value, schema.field(column.name).type))
            if column.unit:
                unit = instance.get("unitCode") if instance is not None else None
                data[f"{column.name}_unitCode"].append(unit)
            if column.observed:
                at = instance.get("observedAt") if instance is not None else None
                data[f"{column.name}_observedAt"].append(_timestamp(at))
    return data


async def parquet_stream(
    schema: pa.Schema,
    pages: AsyncIterator[list[Any]],
    columns: Callable[[list[Any]], dict[str, list[Any]]],
    metadata: dict[str, str],
) -> AsyncIterator[bytes]:
    """A Parquet file written a row group per page, its bytes yielded as they are made."""
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema.with_metadata(metadata), compression="zstd")
    try:
        async for page in pages:
            writer.write_table(pa.table(columns(page), schema=writer.schema))
            chunk = sink.take()
            if chunk:
                yield chunk
    finally:
        writer.close()
    yield sink.take()


def _metadata(publication: Publication) -> dict[str, str]:
    return {
        "cityhub:type": publication.type,
        "cityhub:license": publication.license_url,
        "cityhub:attribution": publication.attribution,
    }


async def parquet_export(
    store: Store, tenant: str, publication: Publication, query: EntityQuery, plan: Plan
) -> AsyncIterator[bytes]:
    """The current state as Parquet (columns as the CSV's, typed: numbers as double, times as
    UTC timestamps, geometry as WKT)."""
    schema = parquet_schema(plan)
    async for chunk in parquet_stream(
        schema,
        entity_pages(store, tenant, query),
        lambda page: _parquet_columns(page, publication, plan, schema),
        _metadata(publication),
    ):
        yield chunk


# ---- history ------------------------------------------------------------------------------
HISTORY_COLUMNS = ["entityId", "attribute", "value", "unitCode", "observedAt", "datasetId"]


async def history_rows(
    store: Store,
    temporal: TemporalStore,
    tenant: str,
    publication: Publication,
    query: EntityQuery,
    start: str,
    end: str,
) -> AsyncIterator[list[tuple[str, str, Any, str | None, str, str | None]]]:
    """A day of the type's history, a page of entities at a time: (entity id, attribute name,
    value, unitCode, observation time, datasetId) per instance of a public attribute, in time
    order per attribute. The time is ``observedAt`` (the recording time where none)."""
    terms = core_terms()
    tq = TemporalQuery(timerel="between", time_at=start, end_time_at=end)
    attrs = tuple(publication.attributes) if publication.attributes is not None else ()
    async for page in entity_pages(store, tenant, query, HISTORY_PAGE):
        ids = tuple(e["id"] for e in page)
        found, _ = await temporal.query_entities(
            tenant, EntityQuery(ids=ids, attrs=attrs, limit=len(ids)), tq
        )
        rows: list[tuple[str, str, Any, str | None, str, str | None]] = []
        for head, history in found:
            for iri, instances in history.items():
                if not publication.is_public(iri):
                    continue
                name = terms.compact(iri)
                for instance in instances:
                    if "deletedAt" in instance:
                        continue
                    rows.append(
                        (
                            head["id"],
                            name,
                            plain_value(instance),
                            instance.get("unitCode"),
                            str(instance.get("_display_time") or instance.get("observedAt", "")),
                            instance.get("datasetId"),
                        )
                    )
        if rows:
            yield rows


async def history_csv(rows: AsyncIterator[list[tuple[Any, ...]]]) -> AsyncIterator[bytes]:
    yield BOM.encode("utf-8") + _csv_lines([HISTORY_COLUMNS])
    async for page in rows:
        yield _csv_lines([[_text(v) for v in row] for row in page])


HISTORY_SCHEMA = pa.schema(
    [
        pa.field("entityId", pa.string(), nullable=False),
        pa.field("attribute", pa.string(), nullable=False),
        pa.field("value", pa.float64()),  # numbers
        pa.field("valueText", pa.string()),  # anything else (objects as JSON)
        pa.field("unitCode", pa.string()),
        pa.field("observedAt", _TIMESTAMP),
        pa.field("datasetId", pa.string()),
    ]
)


def _history_columns(page: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {name: [] for name in HISTORY_SCHEMA.names}
    for entity_id, name, value, unit, at, dataset in page:
        number = _kind(value) == "number"
        data["entityId"].append(entity_id)
        data["attribute"].append(name)
        data["value"].append(float(value) if number else None)
        data["valueText"].append(None if number or value is None else _text(value))
        data["unitCode"].append(unit)
        data["observedAt"].append(_timestamp(at))
        data["datasetId"].append(dataset)
    return data


async def history_parquet(
    rows: AsyncIterator[list[tuple[Any, ...]]], publication: Publication
) -> AsyncIterator[bytes]:
    async for chunk in parquet_stream(
        HISTORY_SCHEMA, rows, _history_columns, _metadata(publication)
    ):
        yield chunk


__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_SCHEMA",
    "Plan",
    "csv_export",
    "csv_header",
    "entity_pages",
    "geojson_export",
    "history_csv",
    "history_parquet",
    "history_rows",
    "parquet_export",
    "parquet_schema",
    "plan_export",
]
