"""Config groups and devices as iotagent-node-lib's provisioning API defines them (doc/api.md
"Config group datamodel", "Device datamodel"): a client's JSON validated into the agent's
internal document, and the document rendered back as the API shows it.

The internal document keeps the API's own field names (``apikey``, ``resource``,
``entity_type``, ``attributes`` ...), plus ``service`` (the ``Fiware-Service`` header, which is
the NGSI-LD tenant) and ``service_path`` (``Fiware-ServicePath``). Unknown fields are dropped.
Expressions (``expression``, ``entityNameExp``, an ``explicitAttrs`` string) are parsed here, so
a bad one is refused when provisioned, not when the first measure arrives.
"""

from __future__ import annotations

import re
from typing import Any

from cityhub.errors import CityhubError
from cityhub.iot.errors import WrongSyntax
from cityhub.iot.expressions import parse
from cityhub.ngsild.names import check_name, check_uri

Document = dict[str, Any]

#: object_id and device_id travel in MQTT topics and URLs: no topic separators or wildcards
_BAD_ID_CHARS = set("/#+ \t\r\n\0")
_MAX_ID = 256
_MAX_ATTRIBUTES = 500
_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")

#: optional plain fields a group or device may carry, and their JSON types
_STRINGS = (
    "endpoint",
    "transport",
    "protocol",
    "cbHost",
    "trust",
    "ngsiVersion",
    "payloadType",
    "defaultEntityNameConjunction",
    "timezone",
    "cmdMode",
    "description",
)
_BOOLS = ("timestamp", "autoprovision", "storeLastMeasure", "useCBflowControl", "polling")


def _text(value: Any, what: str, *, empty: bool = False, limit: int = 1024) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > limit:
        raise WrongSyntax(
            f"{what} must be a {'' if empty else 'non-empty '}string of at most {limit} "
            f"characters, got {value!r}"
        )
    if "\0" in value:
        raise WrongSyntax(f"{what} must not contain a NUL character")
    return value


def check_id(value: Any, what: str) -> str:
    """A device id or object_id: a non-empty string without ``/ # +``, whitespace or NUL."""
    text = _text(value, what, limit=_MAX_ID)
    if _BAD_ID_CHARS & set(text):
        raise WrongSyntax(f"{what} {text!r} must not contain '/', '#', '+', whitespace or NUL")
    return text


def _name(value: Any, what: str) -> str:
    try:
        return check_name(value, what)
    except CityhubError as exc:
        raise WrongSyntax(exc.detail) from None


def _entity_id(value: Any, what: str) -> str:
    """An entity name: an NGSI-LD entity id is a URI (clause 4.5.1), so a name that is not
    one is refused here rather than every measure of the device later."""
    text = _text(value, what, limit=512)
    try:
        return check_uri(text, what)
    except CityhubError as exc:
        raise WrongSyntax(exc.detail) from None


def _mqtt_options(value: Any, what: str) -> Document:
    """A command's ``mqtt``: ``qos`` 0, 1 or 2 and ``retain`` true or false, both optional."""
    if not isinstance(value, dict) or set(value) - {"qos", "retain"}:
        raise WrongSyntax(f'{what} must be an object such as {{"qos": 2, "retain": true}}')
    if "qos" in value and (isinstance(value["qos"], bool) or value["qos"] not in (0, 1, 2)):
        raise WrongSyntax(f"{what} qos must be 0, 1 or 2, got {value['qos']!r}")
    if "retain" in value and not isinstance(value["retain"], bool):
        raise WrongSyntax(f"{what} retain must be true or false, got {value['retain']!r}")
    return dict(value)


def _expression(value: Any, what: str) -> str:
    text = _text(value, what, limit=4096)
    parse(text)  # InvalidExpression names what is wrong
    return text


def _metadata(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WrongSyntax(f"{what} must be a JSON object, got {value!r}")
    for key, item in value.items():
        _name(key, f"{what} name")
        if not isinstance(item, dict) or "value" not in item:
            raise WrongSyntax(
                f"{what} {key!r} must be an object with a value, such as "
                '{"type": "Text", "value": "CEL"}'
            )
    return value


def _attribute(raw: Any, what: str, *, static: bool = False) -> Document:
    if not isinstance(raw, dict):
        raise WrongSyntax(f"each of {what} must be a JSON object, got {raw!r}")
    out: Document = {"name": _name(raw.get("name"), f"{what} name")}
    if raw.get("type") is not None:
        out["type"] = _text(raw["type"], f"{what} {out['name']!r} type", limit=256)
    elif not static:
        raise WrongSyntax(f"{what} {out['name']!r} needs a type (such as Number or Text)")
    else:
        out["type"] = "Property"
    if "object_id" in raw and raw["object_id"] is not None:
        out["object_id"] = check_id(raw["object_id"], f"{what} {out['name']!r} object_id")
    if static:
        if "value" not in raw:
            raise WrongSyntax(f"static attribute {out['name']!r} needs a value")
        out["value"] = raw["value"]
    if "metadata" in raw and raw["metadata"] is not None:
        out["metadata"] = _metadata(raw["metadata"], f"{what} {out['name']!r} metadata")
    if "expression" in raw and raw["expression"] is not None:
        out["expression"] = _expression(raw["expression"], f"{what} {out['name']!r} expression")
    if "skipValue" in raw:
        out["skipValue"] = raw["skipValue"]
    if raw.get("entity_name") is not None:
        out["entity_name"] = _entity_id(raw["entity_name"], f"{what} {out['name']!r} entity_name")
    if raw.get("entity_type") is not None:
        out["entity_type"] = _text(raw["entity_type"], f"{what} {out['name']!r} entity_type")
    for key in ("payloadType", "contentType"):
        if raw.get(key) is not None:
            out[key] = _text(raw[key], f"{what} {out['name']!r} {key}", limit=256)
    if raw.get("mqtt") is not None:  # a command's MQTT options (iotagent-json)
        out["mqtt"] = _mqtt_options(raw["mqtt"], f"{what} {out['name']!r} mqtt")
    if raw.get("headers") is not None:  # a command's extra HTTP headers
        headers = raw["headers"]
        if not isinstance(headers, dict) or not all(
            isinstance(k, str)
            and isinstance(v, str)
            and _HEADER.fullmatch(k)
            and "\n" not in v
            and "\r" not in v
            for k, v in headers.items()
        ):
            raise WrongSyntax(
                f"{what} {out['name']!r} headers must be an object of header names and texts"
            )
        out["headers"] = headers
    return out


def _attribute_list(raw: Any, what: str, *, static: bool = False) -> list[Document]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WrongSyntax(f"{what} must be an array, got {raw!r}")
    if len(raw) > _MAX_ATTRIBUTES:
        raise WrongSyntax(f"{what} has {len(raw)} entries; at most {_MAX_ATTRIBUTES}")
    return [_attribute(item, what, static=static) for item in raw]


def _common(raw: Document, out: Document) -> None:
    """The fields groups and devices share."""
    for key in ("attributes", "lazy", "commands"):
        if key in raw:
            out[key] = _attribute_list(raw[key], key)
    if "static_attributes" in raw:
        out["static_attributes"] = _attribute_list(
            raw["static_attributes"], "static_attributes", static=True
        )
    if "internal_attributes" in raw and raw["internal_attributes"] is not None:
        out["internal_attributes"] = raw["internal_attributes"]
    for key in _STRINGS:
        if raw.get(key) is not None:
            out[key] = _text(raw[key], key, empty=True)
    for key in _BOOLS:
        if raw.get(key) is not None:
            if not isinstance(raw[key], bool):
                raise WrongSyntax(f"{key} must be true or false, got {raw[key]!r}")
            out[key] = raw[key]
    if raw.get("explicitAttrs") is not None:
        value = raw["explicitAttrs"]
        if isinstance(value, str):
            value = _expression(value, "explicitAttrs")
        elif not isinstance(value, bool):
            raise WrongSyntax(f"explicitAttrs must be true, false or an expression, got {value!r}")
        out["explicitAttrs"] = value
    if raw.get("entityNameExp") is not None:
        out["entityNameExp"] = _expression(raw["entityNameExp"], "entityNameExp")


def parse_group(raw: Any, service: str, service_path: str) -> Document:
    """A config group of a ``POST /iot/groups`` body.

    Raises:
        WrongSyntax, InvalidExpression: what is wrong, by field.
    """
    if not isinstance(raw, dict):
        raise WrongSyntax(f"each group must be a JSON object, got {raw!r}")
    out: Document = {
        "apikey": check_id(raw.get("apikey"), "apikey"),
        "resource": _text(raw.get("resource"), "resource", empty=True, limit=512),
        "service": service,
        "service_path": service_path,
    }
    entity_type = raw.get("entity_type", raw.get("type"))  # "type": the older name
    if entity_type is not None:
        out["entity_type"] = _name(entity_type, "entity_type")
    _common(raw, out)
    return out


def update_group(current: Document, raw: Any) -> Document:
    """A group with the fields of a ``PUT /iot/groups`` body replaced (apikey and resource
    stay: they name the group)."""
    if not isinstance(raw, dict):
        raise WrongSyntax("the body must be a JSON object of the fields to change")
    merged = {**raw_of(current), **raw}
    merged["apikey"], merged["resource"] = current["apikey"], current["resource"]
    return parse_group(merged, current["service"], current["service_path"])


def parse_device(raw: Any, service: str, service_path: str) -> Document:
    """A device of a ``POST /iot/devices`` body (its entity_name is filled in when provisioned,
    from its group, by the agent).

    Raises:
        WrongSyntax, InvalidExpression: what is wrong, by field.
    """
    if not isinstance(raw, dict):
        raise WrongSyntax(f"each device must be a JSON object, got {raw!r}")
    out: Document = {
        "device_id": check_id(raw.get("device_id"), "device_id"),
        "service": service,
        "service_path": service_path,
    }
    if raw.get("apikey") is not None:
        out["apikey"] = check_id(raw["apikey"], "apikey")
    if raw.get("entity_type") is not None:
        out["entity_type"] = _name(raw["entity_type"], "entity_type")
    if raw.get("entity_name") is not None:
        out["entity_name"] = _entity_id(raw["entity_name"], "entity_name")
    _common(raw, out)
    return out


def update_device(current: Document, raw: Any) -> Document:
    """A device with the fields of a ``PUT /iot/devices/{id}`` body replaced; device_id,
    service and service path stay (doc/api.md: they link the device to its entity)."""
    if not isinstance(raw, dict):
        raise WrongSyntax("the body must be a JSON object of the fields to change")
    merged = {**raw_of(current), **raw}
    merged["device_id"] = current["device_id"]
    return parse_device(merged, current["service"], current["service_path"])


def raw_of(doc: Document) -> Document:
    """A stored document as a body the parsers take again (for updates)."""
    return {k: v for k, v in doc.items() if k not in ("service", "service_path")}


def group_view(doc: Document) -> Document:
    """A group as ``GET /iot/groups`` shows it."""
    out = {k: v for k, v in doc.items() if k != "service_path"}
    out["subservice"] = doc["service_path"]
    for key in ("attributes", "lazy", "commands", "static_attributes"):
        out.setdefault(key, [])
    return out


def device_view(doc: Document) -> Document:
    """A device as ``GET /iot/devices`` shows it (without the secret naming it in its lazy
    attributes' registration)."""
    out = {k: v for k, v in doc.items() if k != "lazy_key"}
    for key in ("attributes", "lazy", "commands", "static_attributes"):
        out.setdefault(key, [])
    out.setdefault("internal_attributes", [])
    return out


__all__ = [
    "check_id",
    "device_view",
    "group_view",
    "parse_device",
    "parse_group",
    "raw_of",
    "update_device",
    "update_group",
]
