"""EntityInfo (ETSI GS CIM 009 v1.8.1 clause 5.2.8): which entities a registration's
``RegistrationInfo`` (clause 5.2.10) or a registration subscription's ``entities`` (clause 5.2.12)
names: a mandatory ``type`` (stored as an IRI), with an ``id`` or an ``idPattern``.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.names import check_name, check_uri


def check_regex(value: Any, what: str) -> str:
    """A regular expression (idPattern), checked (``cityhub.ngsild.regex``: RE2, linear)."""
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{what} must be a non-empty string, got {value!r}")
    regex.compile_pattern(value, what)
    return value


def check_entity_infos(value: Any, terms: TermMap, what: str) -> list[dict[str, Any]]:
    """An array of EntityInfo (clause 5.2.8): ``type`` mandatory, ``id`` or ``idPattern``."""
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{what} must be a non-empty array of EntityInfo, got {value!r}")
    infos: list[dict[str, Any]] = []
    for pos, item in enumerate(value):
        label = f"{what}[{pos}]"
        if not isinstance(item, dict):
            raise BadRequestData(f"{label} must be an object with type and id or idPattern")
        unknown = set(item) - {"id", "idPattern", "type"}
        if unknown:
            raise BadRequestData(f"{label} has unknown members {', '.join(sorted(unknown))}")
        if "type" not in item:
            raise BadRequestData(f"{label} has no type (clause 5.2.8: type is mandatory)")
        info: dict[str, Any] = {}
        for key, val in item.items():
            if key == "id":
                info["id"] = check_uri(val, f"{label}.id")
            elif key == "idPattern":
                info["idPattern"] = check_regex(val, f"{label}.idPattern")
            else:
                info["type"] = terms.expand(check_name(val, f"{label}.type"))
        infos.append(info)
    return infos


def compact_entity_infos(infos: list[dict[str, Any]], terms: TermMap) -> list[dict[str, Any]]:
    """Stored EntityInfo (types as IRIs) as a client with ``terms`` reads them."""
    return [{k: terms.compact(v) if k == "type" else v for k, v in i.items()} for i in infos]
