"""Compact history rows, the encoding both backends' series layouts share (issue 21): an
attribute instance that is a plain numeric Property with observedAt is kept as its number, the
form of its value (integer or decimal) and of its observedAt (as written: with six, three or no
fraction digits), not as JSON; its instance id is made from its recording order ``seq``.

:meth:`Forms.encode` decides from an instance's JSON text, :meth:`Forms.plain` from the
instance itself (no JSON written), :meth:`Forms.decode` rebuilds the instance, byte for byte
the JSON it was written as. The observedAt they compare with and rebuild from is the stored
time in the hub's normalized text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``): each backend turns its
own stored time into that text (SQLite keeps integer microseconds, ``sqlite/series.py``).

The backends number the observedAt forms differently (:class:`Forms`): PostgreSQL's series
layout (migration 0013) gives the form written in full the value 0, SQLite's (its migration
0019 turned the second bit over) gives it to the commonest form, the whole second written
without fraction, so that most rows take no byte for it. Their numbers are on disk:
:data:`POSTGRES` and :data:`SQLITE` must not change.
"""

from __future__ import annotations

import math

import orjson

from cityhub.ngsild.entity import Instance

ID_PREFIX = "urn:ngsi-ld:Instance:"
_PREFIX = '{"type":"Property","value":'
_OBSERVED = ',"observedAt":"'
INT = 1  # form bit: the value is a JSON integer
_EXACT = 2**53  # integers a float holds exactly
_PLAIN = ("type", "value", "observedAt")


class Forms:
    """One backend's numbering of a compact row's ``form``: bit :data:`INT`, and the value of
    the observedAt bits for each way of writing it: ``full`` as stored (``...:00.000000Z``;
    also the form of a row with observedAt that keeps its JSON), ``seconds`` without
    fraction (``...:00Z``), ``millis`` with milliseconds (``...:00.000Z``)."""

    __slots__ = ("full", "millis", "seconds")

    def __init__(self, *, full: int, seconds: int, millis: int) -> None:
        if len({full, seconds, millis}) != 3 or (full | seconds | millis) & INT:
            raise ValueError("the observedAt forms need distinct values without the INT bit")
        self.full = full
        self.seconds = seconds
        self.millis = millis

    def _time_form(self, shown: str, observed: str) -> int | None:
        if shown == observed:
            return self.full
        if observed[19:] == ".000000Z" and shown == observed[:19] + "Z":
            return self.seconds
        if observed[23:] == "000Z" and shown == observed[:23] + "Z":
            return self.millis
        return None

    def encode(
        self, text: str, number: float | None, observed: str | None
    ) -> tuple[str | None, int | None]:
        """``(body, form)`` of an instance whose JSON is ``text``: the body None when
        ``number`` and ``observed`` (the stored observedAt) rebuild ``text`` exactly
        (:meth:`decode`); the form None for an instance without observedAt."""
        if observed is None:
            return text, None
        kept = text, self.full
        if number is None or not text.startswith(_PREFIX) or not text.endswith('"}'):
            return kept
        i = text.find(_OBSERVED, len(_PREFIX))
        if i < 0:
            return kept
        form = self._time_form(text[i + len(_OBSERVED) : -2], observed)
        if form is None:
            return kept
        literal = text[len(_PREFIX) : i]
        value: float | int = number
        if literal.lstrip("-").isdigit():
            if abs(number) >= _EXACT:
                return kept
            value, form = int(number), form | INT
        elif number == 0 and math.copysign(1.0, number) < 0:
            return kept  # SQLite keeps -0.0 as 0
        if orjson.dumps(value).decode() != literal:
            return kept
        return None, form

    def plain(self, inst: Instance, observed: str) -> tuple[float, int] | None:
        """``(num, form)`` when ``inst`` (members as written, no system times) is the plain
        numeric Property :meth:`encode` keeps without JSON, else None: the same outcome
        without writing and parsing the JSON (the temporal API's appends are nearly all such
        instances)."""
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
        shown = self._time_form(inst["observedAt"], observed)
        return None if shown is None else (float(value), form | shown)

    def decode(self, num: float, form: int, at: str) -> Instance:
        """The instance a compact row stands for (:meth:`encode`); ``at`` its stored
        observedAt in the hub's text."""
        shown = form & ~INT
        if shown == self.full:
            observed = at
        elif shown == self.seconds:
            observed = at[:19] + "Z"
        else:
            observed = at[:23] + "Z"
        return {
            "type": "Property",
            "value": int(num) if form & INT else num,
            "observedAt": observed,
        }


#: PostgreSQL's forms (migration 0013)
POSTGRES = Forms(full=0, seconds=2, millis=4)
#: SQLite's forms (migration 0019): the commonest rows, a number observed at a whole second
#: written without fraction, have form 0 or 1
SQLITE = Forms(full=2, seconds=0, millis=4)


def seq_of(instance_id: str) -> int | None:
    """The ``seq`` a made instance id names, else None (a stored UUID, or not ours)."""
    tail = instance_id[len(ID_PREFIX) :] if instance_id.startswith(ID_PREFIX) else ""
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


__all__ = ["ID_PREFIX", "INT", "POSTGRES", "SQLITE", "Forms", "seq_of"]
