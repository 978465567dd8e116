"""A device's measures to NGSI-LD entity fragments (iotagent-node-lib doc/api.md "Device to NGSI
Mapping", "Measurement transformation", "TimeInstant and Timestamp flag", "NGSI-LD Support").

For each group of measures: the device's attribute mappings (its own, then its group's, by
``object_id`` or ``name``) name and type each value; an ``expression`` computes a value from the
measures; unmapped measures become attributes of their own name unless ``explicitAttrs`` says
otherwise; static attributes are added. Values get their NGSI-LD attribute type from the
mapping's type (``Number`` and the like need a number, ``Boolean`` a boolean, ``geo:*`` a
GeoProperty, ``Relationship`` an object); ``metadata.unitCode`` becomes ``unitCode``;
``observedAt`` is the device's timestamp (``TimeInstant`` or the UltraLight group's), unless the
device or group sets ``timestamp`` false, else the time of receipt.

Every value is checked before anything is written: one bad value refuses the whole message
(``BadMeasure`` says which), so a message is never half written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityhub.errors import BadRequestData, CityhubError
from cityhub.iot.expression_functions import TRANSFORMS
from cityhub.iot.expressions import Evaluator, ExpressionError, names_in, parse
from cityhub.iot.ultralight import MeasureGroup
from cityhub.ngsild.datetime import check_datetime

Document = dict[str, Any]

_EVALUATOR = Evaluator(TRANSFORMS)
_NUMBER_TYPES = {"number", "float", "integer", "double", "int", "decimal", "percentage"}
_TIME_INSTANT = "TimeInstant"


class BadMeasure(BadRequestData):
    """A measure the mapping cannot turn into an attribute (a wrong type, an expression that
    fails); ``kind`` is how it is counted."""

    def __init__(self, detail: str, kind: str = "wrong_type") -> None:
        super().__init__(detail, name="BAD_MEASURE", message=detail)
        self.kind = kind


@dataclass
class Mapping:
    """What one device's measures become: its config merged over its group's."""

    entity_id: str
    entity_type: str
    attributes: list[Document] = field(default_factory=list)
    static_attributes: list[Document] = field(default_factory=list)
    explicit: bool | str | list[Any] = False
    timestamp: bool | None = None
    context: Document = field(default_factory=dict)
    #: the attributes by the device's name of their measure (``object_id``, else ``name``)
    by_object: dict[str, Document] = field(init=False)
    #: whether a message needs the expression context (an expression reads it)
    expressions: bool = field(init=False)

    def __post_init__(self) -> None:
        self.by_object = {str(a.get("object_id", a["name"])): a for a in self.attributes}
        self.expressions = isinstance(self.explicit, str) or any(
            "expression" in a for a in self.attributes
        )


def mapping_of(device: Document, group: Document) -> Mapping:
    """The mapping of a device (its fields over its group's, attributes merged by name)."""
    attrs: dict[str, Document] = {a["name"]: a for a in group.get("attributes", [])}
    attrs.update({a["name"]: a for a in device.get("attributes", [])})
    statics: dict[str, Document] = {a["name"]: a for a in group.get("static_attributes", [])}
    statics.update({a["name"]: a for a in device.get("static_attributes", [])})
    explicit: bool | str | list[Any] = (
        device.get("explicitAttrs", group.get("explicitAttrs")) or False
    )
    timestamp = device.get("timestamp", group.get("timestamp"))
    return Mapping(
        entity_id=device["entity_name"],
        entity_type=device.get("entity_type") or group.get("entity_type") or "Thing",
        attributes=list(attrs.values()),
        static_attributes=list(statics.values()),
        explicit=explicit,
        timestamp=timestamp,
        context={
            "id": device["device_id"],
            "entity_name": device["entity_name"],
            "type": device.get("entity_type") or group.get("entity_type"),
            "service": device.get("service"),
            "subservice": device.get("service_path"),
            "staticAttributes": {a["name"]: a.get("value") for a in statics.values()},
        },
    )


# ---- values ------------------------------------------------------------------------------------


def _autocast(value: Any) -> Any:
    """UltraLight text as the JSON value it spells (iotagent-ul "Casting to JSON native
    format"): numbers, true/false, null, arrays and objects; anything else stays text."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "-0123456789tfn[{":
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        if isinstance(parsed, float) and not math.isfinite(parsed):
            return value
        return parsed
    return value


def _number(value: Any, name: str) -> int | float:
    if isinstance(value, bool):
        raise BadMeasure(f"attribute {name} needs a number, got {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            n = float(value)
        except ValueError:
            n = math.nan
        if math.isfinite(n):
            return int(n) if n.is_integer() and "." not in value and "e" not in value.lower() else n
    raise BadMeasure(f"attribute {name} needs a number, got {value!r}")


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false", "1", "0", 1, 0):
        return value in ("true", "1", 1)
    raise BadMeasure(f"attribute {name} needs true or false, got {value!r}")


def _geo(value: Any, kind: str, name: str) -> Document:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and kind in ("geo:point", "geo:json"):
        parts = [p.strip() for p in value.replace("/", ",").split(",")]
        if len(parts) == 2:
            try:
                lat, lon = float(parts[0]), float(parts[1])
            except ValueError:
                pass
            else:
                return {"type": "Point", "coordinates": [lon, lat]}
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(x, int | float) for x in value)
    ):
        return {"type": "Point", "coordinates": [value[1], value[0]]}
    raise BadMeasure(
        f"attribute {name} ({kind}) needs GeoJSON or 'latitude, longitude', got {value!r}"
    )


def _datetime(value: Any, name: str) -> str:
    if isinstance(value, str):
        try:
            return check_datetime(value, name)
        except CityhubError:
            pass
    raise BadMeasure(f"attribute {name} needs an ISO 8601 date-time, got {value!r}")


def instance(name: str, kind: str, value: Any, metadata: Document | None) -> Document:
    """The NGSI-LD instance of a value of FIWARE attribute type ``kind``."""
    low = kind.lower()
    inst: Document
    if low in _NUMBER_TYPES:
        inst = {"type": "Property", "value": _number(value, name)}
    elif low == "boolean":
        inst = {"type": "Property", "value": _boolean(value, name)}
    elif low.startswith("geo:") or kind == "GeoProperty":
        inst = {"type": "GeoProperty", "value": _geo(value, low, name)}
    elif kind == "Relationship":
        if not isinstance(value, str):
            raise BadMeasure(f"relationship {name} needs an entity id, got {value!r}")
        inst = {"type": "Relationship", "object": value}
    elif low == "datetime":  # as iotagent-node-lib's NGSI-LD mode writes a DateTime
        inst = {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": _datetime(value, name)},
        }
    elif low in ("text", "string"):
        inst = {"type": "Property", "value": value if isinstance(value, str) else str(value)}
    else:
        inst = {"type": "Property", "value": value}
    if inst.get("value") is None and inst["type"] != "Relationship":
        raise BadMeasure(f"attribute {name} has no value")
    for key, meta in (metadata or {}).items():
        meta_value = meta.get("value") if isinstance(meta, dict) else meta
        if key == "unitCode":
            inst["unitCode"] = str(meta_value)
        else:
            inst[key] = {"type": "Property", "value": meta_value}
    return inst


# ---- a group of measures -----------------------------------------------------------------------


def _explicit_names(mapping: Mapping, context: Document) -> set[str] | None:
    """The attribute names explicitAttrs lets through; None: every measure."""
    explicit = mapping.explicit
    if isinstance(explicit, str):
        try:
            explicit = _EVALUATOR.evaluate(parse(explicit), context)
        except (ExpressionError, CityhubError) as exc:
            raise BadMeasure(f"explicitAttrs {mapping.explicit!r}: {exc}", "expression") from None
    if explicit is True:
        return {a["name"] for a in mapping.attributes} | {
            a["name"] for a in mapping.static_attributes
        }
    if isinstance(explicit, list):
        names = set()
        for item in explicit:
            if isinstance(item, str):
                names.add(item)
            elif isinstance(item, dict) and isinstance(item.get("object_id"), str):
                names |= {
                    a["name"] for a in mapping.attributes if a.get("object_id") == item["object_id"]
                }
        return names
    return None


def _timestamp(group: MeasureGroup, mapping: Mapping, received: str) -> str:
    if mapping.timestamp is False:
        return received
    stamp = group.timestamp or group.values.get(_TIME_INSTANT)
    if isinstance(stamp, str):
        try:
            return check_datetime(stamp, _TIME_INSTANT)
        except CityhubError:
            return received  # doc/api.md: a TimeInstant not in ISO 8601 falls back
    return received


def fragments(
    mapping: Mapping, group: MeasureGroup, received: str, *, text: bool
) -> list[Document]:
    """The compact NGSI-LD entity fragments (``id``, ``type``, attributes) of one group of
    measures: the device's entity first, then any other entity an attribute's
    ``entity_name`` sends its value to.

    Args:
        text: the values are UltraLight text (cast to JSON values where they spell one).

    Raises:
        BadMeasure: a value of the wrong type, or an expression that fails.
    """
    raw = {k: (_autocast(v) if text else v) for k, v in group.values.items()}
    observed = _timestamp(group, mapping, received)
    by_object = mapping.by_object
    context: Document = {}
    if mapping.expressions:
        context = {**mapping.context, **raw}
        for key, measured in raw.items():  # the measures under their attribute names too
            mapped = by_object.get(key)
            if mapped is not None:
                context.setdefault(mapped["name"], measured)
    allowed = _explicit_names(mapping, context)
    main: Document = {"id": mapping.entity_id, "type": mapping.entity_type}
    others: dict[tuple[str, str], Document] = {}
    used: set[str] = set()
    for attr in mapping.attributes:
        name: str = attr["name"]
        source: str = attr.get("object_id", name)
        value: Any
        if "expression" in attr:
            tree = parse(attr["expression"])
            needed = names_in(tree)
            if not needed & set(raw) and source not in raw:
                continue  # none of its measures came (doc/api.md "execution")
            if needed <= set(context):
                try:
                    value = _EVALUATOR.evaluate(tree, context)
                except ExpressionError as exc:
                    raise BadMeasure(f"attribute {name}: {exc}", "expression") from None
            elif source in raw:
                value = raw[source]
            else:
                continue
            if value is None or value == attr.get("skipValue"):
                continue
            used |= needed & set(raw)
        elif source in raw:
            value = raw[source]
        else:
            continue
        used.add(source)
        if allowed is not None and name not in allowed:
            continue
        target = main
        if "entity_name" in attr:
            ent_type = attr.get("entity_type", mapping.entity_type)
            target = others.setdefault(
                (attr["entity_name"], ent_type), {"id": attr["entity_name"], "type": ent_type}
            )
        inst = instance(name, attr["type"], value, attr.get("metadata"))
        inst["observedAt"] = observed
        target[name] = inst
    for key, value in raw.items():
        if key in used or key == _TIME_INSTANT or key in by_object:
            continue
        name = {"id": "measure_id", "type": "measure_type"}.get(key, key)
        if allowed is not None and name not in allowed:
            continue
        inst = instance(name, group.types.get(key, ""), value, group.metadata.get(key))
        inst["observedAt"] = observed
        main[name] = inst
    for attr in mapping.static_attributes:
        if allowed is not None and attr["name"] not in allowed:
            continue
        main[attr["name"]] = instance(
            attr["name"], attr["type"], attr["value"], attr.get("metadata")
        )
    return [main, *others.values()]


__all__ = ["BadMeasure", "Mapping", "fragments", "instance", "mapping_of"]
