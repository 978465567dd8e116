"""Compact history rows, the encoding both backends' series layouts share (issue 21): an
attribute instance that is a plain numeric Property with observedAt is kept as its number, the
form of its value (integer or decimal) and of its observedAt (as written: with six, three or no
fraction digits), not as JSON; its instance id is made from its recording order ``seq``.

:func:`encode` decides from an instance's JSON text, :func:`plain` from the instance itself
(no JSON written), :func:`decode` rebuilds the instance, byte for byte the JSON it was
written as. The observedAt it rebuilds from is the stored time in the hub's normalized text
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``). PostgreSQL's series layout (``store/postgres/series.py``)
uses it; SQLite's (``store/sqlite/series.py``) has the same rules in its own module, with
the second form bit turned over (its migration 0019: the commonest form is 0, no byte on disk).
"""

from __future__ import annotations

import math

import orjson

from cityhub.ngsild.entity import Instance

ID_PREFIX = "urn:ngsi-ld:Instance:"
_PREFIX = '{"type":"Property","value":'
_OBSERVED = ',"observedAt":"'
INT = 1  # form bit: the value is a JSON integer
SECONDS = 2  # form bit: observedAt written without fraction ("...:00Z")
MILLIS = 4  # form bit: observedAt written with milliseconds ("...:00.000Z")
_EXACT = 2**53  # integers a float holds exactly
_PLAIN = ("type", "value", "observedAt")


def _time_form(shown: str, observed: str) -> int | None:
    if shown == observed:
        return 0
    if observed[19:] == ".000000Z" and shown == observed[:19] + "Z":
        return SECONDS
    if observed[23:] == "000Z" and shown == observed[:23] + "Z":
        return MILLIS
    return None


def encode(text: str, number: float | None, observed: str | None) -> tuple[str | None, int | None]:
    """``(body, form)`` of an instance whose JSON is ``text``: the body None when ``number``
    and ``observed`` (the stored observedAt) rebuild ``text`` exactly (:func:`decode`); the
    form None for an instance without observedAt."""
    if observed is None:
        return text, None
    if number is None or not text.startswith(_PREFIX) or not text.endswith('"}'):
        return text, 0
    i = text.find(_OBSERVED, len(_PREFIX))
    if i < 0:
        return text, 0
    form = _time_form(text[i + len(_OBSERVED) : -2], observed)
    if form is None:
        return text, 0
    literal = text[len(_PREFIX) : i]
    value: float | int = number
    if literal.lstrip("-").isdigit():
        if abs(number) >= _EXACT:
            return text, 0
        value, form = int(number), form | INT
    elif number == 0 and math.copysign(1.0, number) < 0:
        return text, 0
    if orjson.dumps(value).decode() != literal:
        return text, 0
    return None, form


def plain(inst: Instance, observed: str) -> tuple[float, int] | None:
    """``(num, form)`` when ``inst`` (members as written, no system times) is the plain numeric
    Property :func:`encode` keeps without JSON, else None: the same outcome without writing
    and parsing the JSON."""
    if tuple(inst) != _PLAIN or inst["type"] != "Property":
        return None
    value = inst["value"]
    kind = type(value)
    if kind is float:
        if value == 0 and math.copysign(1.0, value) < 0:
            return None
        form = 0
    elif kind is int:
        if abs(value) >= _EXACT:
            return None
        form = INT
    else:
        return None
    shown = _time_form(inst["observedAt"], observed)
    return None if shown is None else (float(value), form | shown)


def decode(num: float, form: int, at: str) -> Instance:
    """The instance a compact row stands for (:func:`encode`); ``at`` its stored observedAt."""
    if form & MILLIS:
        shown = at[:23] + "Z"
    elif form & SECONDS:
        shown = at[:19] + "Z"
    else:
        shown = at
    return {"type": "Property", "value": int(num) if form & INT else num, "observedAt": shown}


def seq_of(instance_id: str) -> int | None:
    """The ``seq`` a made instance id names, else None (a stored UUID, or not ours)."""
    tail = instance_id[len(ID_PREFIX) :] if instance_id.startswith(ID_PREFIX) else ""
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


__all__ = ["ID_PREFIX", "decode", "encode", "plain", "seq_of"]
