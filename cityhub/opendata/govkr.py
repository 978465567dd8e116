"""A data.go.kr-style open API over the published types (issue 19 item 5): the conventions
Korean developers already code against on the national open data portal.

Request: ``serviceKey`` (an API key of the hub's access control; optional while the public may
read, as open data is public), ``pageNo`` (from 1), ``numOfRows`` (1 to ``max_limit``, default
10), ``resultType`` or ``_type`` (``xml``, the portal's default, or ``json``).

Answer, in both formats::

    {"response": {"header": {"resultCode": "00", "resultMsg": "NORMAL SERVICE."},
                  "body": {"items": {"item": [...]}, "numOfRows": 10, "pageNo": 1,
                           "totalCount": 5}}}

An item is an entity's public attributes as plain values, with its ``id`` and, for a point,
``longitude`` and ``latitude``. Errors keep the shape (``header`` only) with the portal's result
codes (:data:`RESULT_CODES`) and an HTTP status that says the same. Pure: rendering and the
code table; ``cityhub.api.govkr`` serves it.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cityhub.ngsild.entity import Entity
from cityhub.opendata.features import geometry, properties
from cityhub.opendata.rules import Publication

#: the portal's common result codes that this API answers with: (message, HTTP status)
RESULT_CODES: dict[str, tuple[str, int]] = {
    "00": ("NORMAL SERVICE.", 200),
    "03": ("NODATA_ERROR", 200),
    "10": ("INVALID_REQUEST_PARAMETER_ERROR", 400),
    "12": ("NO_OPENAPI_SERVICE_ERROR", 404),
    "20": ("SERVICE_ACCESS_DENIED_ERROR", 403),
    "22": ("LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR", 429),
    "30": ("SERVICE_KEY_IS_NOT_REGISTERED_ERROR", 401),
    "31": ("DEADLINE_HAS_EXPIRED_ERROR", 401),
    "99": ("UNKNOWN_ERROR", 500),
}
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def item(entity: Entity, publication: Publication) -> dict[str, Any]:
    """An entity as an item: ``id``, ``longitude``/``latitude`` of a point, its public
    attributes."""
    found: dict[str, Any] = {"id": entity["id"]}
    geo = geometry(entity, publication)
    if geo is not None and geo.get("type") == "Point":
        found["longitude"], found["latitude"] = geo["coordinates"][:2]
    found.update(properties(entity, publication))
    return found


def document(
    code: str, items: list[dict[str, Any]] | None = None, page: int = 1, rows: int = 10,
    total: int = 0, detail: str = "",
) -> dict[str, Any]:  # fmt: skip
    """The answer's document: the header, and the body unless an error."""
    header: dict[str, Any] = {"resultCode": code, "resultMsg": RESULT_CODES[code][0]}
    if detail:
        header["resultDetail"] = detail
    response: dict[str, Any] = {"header": header}
    if items is not None:
        response["body"] = {
            "items": {"item": items},
            "numOfRows": rows,
            "pageNo": page,
            "totalCount": total,
        }
    return {"response": response}


def _xml(name: str, value: Any, out: list[str]) -> None:
    if _XML_NAME.fullmatch(name) is None or name.lower().startswith("xml"):
        open_tag, close_tag = f"<field name={quoteattr(name)}>", "</field>"
    else:
        open_tag, close_tag = f"<{name}>", f"</{name}>"
    if isinstance(value, dict):
        out.append(open_tag)
        for key, member in value.items():
            _xml(str(key), member, out)
        out.append(close_tag)
    elif isinstance(value, list):
        if name == "item":  # items.item[]: one element per item, as the portal writes them
            for member in value:
                _xml("item", member, out)
            return
        out.append(open_tag)
        for member in value:
            _xml("value", member, out)
        out.append(close_tag)
    elif value is None:
        out.append(open_tag + close_tag)
    else:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append(open_tag + escape(text) + close_tag)


def to_xml(doc: dict[str, Any]) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>']
    _xml("response", doc["response"], out)
    return "".join(out).encode("utf-8")


__all__ = ["RESULT_CODES", "document", "item", "to_xml"]
