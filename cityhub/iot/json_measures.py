"""JSON measure payloads (iotagent-json "Measure payload"): an object of measures
(``{"t": 15, "h": 70}``), or an array of them, each a group of measures of its own (several
observations in one message). A ``TimeInstant`` member is the group's timestamp
(``cityhub.iot.measures``). Bounded like UltraLight payloads: at most ``MAX_GROUPS`` groups of
``MAX_MEASURES`` measures each, so one message cannot grow an entity without limit.
"""

from __future__ import annotations

from typing import Any

from cityhub.iot.errors import WrongSyntax
from cityhub.iot.ultralight import MAX_FIELDS, MAX_GROUPS, MeasureGroup

MAX_MEASURES = MAX_FIELDS // 2


def parse_json_measures(body: Any) -> list[MeasureGroup]:
    """The groups of measures of a parsed JSON payload.

    Raises:
        WrongSyntax: not a non-empty object or array of non-empty objects, or too many groups
            or measures.
    """
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(i, dict) and i for i in items):
        raise WrongSyntax(
            'a JSON measure payload is an object of measures, such as {"t": 15, "h": 70}, '
            "or a non-empty array of such objects"
        )
    if len(items) > MAX_GROUPS:
        raise WrongSyntax(f"the payload has {len(items)} groups of measures; at most {MAX_GROUPS}")
    for n, item in enumerate(items, 1):
        if len(item) > MAX_MEASURES:
            raise WrongSyntax(
                f"group {n} of the payload has {len(item)} measures; at most {MAX_MEASURES}"
            )
    return [MeasureGroup(values=dict(i)) for i in items]


__all__ = ["MAX_MEASURES", "parse_json_measures"]
