"""UltraLight 2.0 measure payloads (iotagent-ul, docs/usermanual.md "Measure Payload Syntax").

``t|15|h|70`` is one group of measures, key and value separated by ``|``; ``#`` separates
groups (``gps|1.2/3.4#t|10``); a group may start with a timestamp
(``2016-06-13T00:35:30Z|t|15``), which a group of an odd number of fields has. Values are text;
the attribute mapping gives them a type (``cityhub.iot.measures``).

A payload that does not parse is refused whole, naming the group and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityhub.iot.errors import WrongSyntax
from cityhub.ngsild.datetime import check_datetime

MAX_GROUPS = 1000
MAX_FIELDS = 2000


@dataclass
class MeasureGroup:
    """One group of measures: values by the device's names, and the device's timestamp."""

    values: dict[str, object] = field(default_factory=dict)
    timestamp: str | None = None
    #: the attribute types the message names (measures sent as NGSI entities)
    types: dict[str, str] = field(default_factory=dict)
    #: the metadata the message gives each measure (measures sent as NGSI entities)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def _is_timestamp(text: str) -> bool:
    if len(text) < 10 or not text[:4].isdigit() or text[4] != "-":
        return False
    try:
        check_datetime(text, "timestamp")
    except Exception:
        return False
    return True


def parse_ultralight(payload: str) -> list[MeasureGroup]:
    """The measure groups of an UltraLight 2.0 payload.

    Raises:
        WrongSyntax: an empty payload or group, a key without a value, an empty key, a
            timestamp that is not an ISO 8601 date-time, or too many groups or fields.
    """
    text = payload.strip()
    if not text:
        raise WrongSyntax("the UltraLight payload is empty; send key|value pairs such as t|15|h|70")
    parts = text.split("#")
    if len(parts) > MAX_GROUPS:
        raise WrongSyntax(f"the payload has {len(parts)} measure groups; at most {MAX_GROUPS}")
    groups: list[MeasureGroup] = []
    for n, part in enumerate(parts, 1):
        fields = [f.strip() for f in part.strip().split("|")]
        where = f"measure group {n} ({part.strip()[:60]!r})"
        if fields == [""]:
            raise WrongSyntax(f"{where} is empty")
        if len(fields) > MAX_FIELDS:
            raise WrongSyntax(f"{where} has more than {MAX_FIELDS} fields")
        group = MeasureGroup()
        if len(fields) % 2:
            if not _is_timestamp(fields[0]):
                raise WrongSyntax(
                    f"{where} has an odd number of fields and does not start with an ISO 8601 "
                    "timestamp: each key needs a value (key|value|key|value)"
                )
            group.timestamp = fields[0]
            fields = fields[1:]
        if not fields:
            raise WrongSyntax(f"{where} has a timestamp and no measures")
        for key, value in zip(fields[0::2], fields[1::2], strict=True):
            if not key:
                raise WrongSyntax(f"{where} has an empty key")
            group.values[key] = value
        groups.append(group)
    return groups


__all__ = ["MAX_FIELDS", "MAX_GROUPS", "MeasureGroup", "parse_ultralight"]
