"""The transforms expressions may call (``value|name(args)``): the common set of FIWARE's IoT
agents (iotagent-node-lib, doc/api.md "Available functions"), each written here on plain JSON
values with JavaScript's meaning where it matters. A transform that cannot apply raises, and
the evaluator reports which one failed.

Not provided (documented in docs/iot.md): ``localestring``, ``localestringnumber``,
``timeoffset``, ``bitwisemask``, ``urlencode``/``urldecode``, ``hash``, and the regular
expression ones ``replaceregexp``/``replaceallregexp`` (a caller's pattern runs only through
``cityhub.ngsild.regex``, which matches and does not replace).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from cityhub.iot.expressions import ExpressionError, finite, to_number, to_text

_MAX_TEXT = 1_000_000  # longest string a transform may build


def _check_size(s: str) -> str:
    if len(s) > _MAX_TEXT:
        raise ExpressionError(f"a transform would build a string over {_MAX_TEXT} characters")
    return s


def _int(v: Any) -> int:
    n = to_number(v)
    if isinstance(n, float) and not math.isfinite(n):
        raise ExpressionError(f"{v!r} is not a number")
    return int(n)


def _parseint(v: Any, radix: Any = 10) -> Any:
    s = to_text(v).strip()
    m = re.match(r"[+-]?[0-9a-zA-Z]+", s)
    if not m:
        return None
    digits = m.group(0)
    base = _int(radix) or 10
    for end in range(len(digits), 0, -1):
        try:
            return int(digits[:end], base)
        except ValueError:
            continue
    return None


def _parsefloat(v: Any) -> Any:
    m = re.match(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", to_text(v))
    return finite(float(m.group(0))) if m else None


def _date(v: Any) -> datetime:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return datetime.fromtimestamp(float(v) / 1000, UTC)
    if isinstance(v, str):
        text = v.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            d = datetime.fromisoformat(text)
        except ValueError:
            raise ExpressionError(f"{v!r} is not a date") from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    raise ExpressionError(f"{v!r} is not a date")


def _iso(v: Any) -> str:
    d = _date(v).astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _typeof(v: Any) -> str:
    if v is None:
        return "object"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object"


def _substr(v: Any, start: Any, length: Any = None) -> str:
    s = to_text(v)
    i = _int(start)
    if i < 0:
        i = max(len(s) + i, 0)
    if length is None:
        return s[i:]
    return s[i : i + max(_int(length), 0)]


def _slice(v: Any, start: Any = 0, end: Any = None) -> Any:
    seq = v if isinstance(v, list) else to_text(v)
    return seq[_int(start) : None if end is None else _int(end)]


def _mapper(v: Any, values: Any, choices: Any) -> Any:
    if not isinstance(values, list) or not isinstance(choices, list):
        raise ExpressionError("mapper takes two arrays")
    for i, x in enumerate(values):
        if x == v or to_text(x) == to_text(v):
            return choices[i] if i < len(choices) else None
    return None


def _thmapper(v: Any, values: Any, choices: Any) -> Any:
    if not isinstance(values, list) or not isinstance(choices, list):
        raise ExpressionError("thmapper takes two arrays")
    n = to_number(v)
    for i, limit in enumerate(values):
        if n <= to_number(limit):
            return choices[i] if i < len(choices) else None
    return None


def _addreduce(v: Any) -> Any:
    if not isinstance(v, list) or not v:
        raise ExpressionError("addreduce takes a non-empty array")
    total: Any = v[0]
    for x in v[1:]:
        if isinstance(total, str) or isinstance(x, str):
            total = _check_size(to_text(total) + to_text(x))
        else:
            total = to_number(total) + to_number(x)
    return total


def _hextostring(v: Any) -> str:
    try:
        return bytes.fromhex(to_text(v)).decode("utf-8", errors="replace")
    except ValueError:
        raise ExpressionError(f"{v!r} is not hexadecimal") from None


def _tofixed(v: Any, decimals: Any = 0) -> str:
    n = float(to_number(v))
    d = _int(decimals)
    if not 0 <= d <= 100:
        raise ExpressionError("tofixed takes 0 to 100 decimals")
    return f"{n:.{d}f}"


def _whole(v: Any, how: Callable[[float], int]) -> Any:
    n = to_number(v)
    return how(n) if math.isfinite(n) else None


def _round(v: Any) -> Any:
    return _whole(v, lambda n: math.floor(n + 0.5))


TRANSFORMS: dict[str, Callable[..., Any]] = {
    "jsonparse": lambda v: orjson.loads(to_text(v)),
    "jsonstringify": lambda v: orjson.dumps(v).decode(),
    "indexOf": lambda v, s: to_text(v).find(to_text(s)),
    "length": lambda v: len(to_text(v)),
    "trim": lambda v: to_text(v).strip(),
    "substr": _substr,
    "addreduce": _addreduce,
    "lengtharray": lambda v: len(v) if isinstance(v, list) else None,
    "typeof": _typeof,
    "isarray": lambda v: isinstance(v, list),
    "isnan": lambda v: math.isnan(float(to_number(v))),
    "parseint": _parseint,
    "parsefloat": _parsefloat,
    "toisodate": _iso,
    "toisostring": _iso,
    "gettime": lambda v: int(_date(v).timestamp() * 1000),
    "now": lambda *_: int(datetime.now(UTC).timestamp() * 1000),
    "tostring": to_text,
    "replacestr": lambda s, a, b: _check_size(to_text(s).replace(to_text(a), to_text(b), 1)),
    "replaceallstr": lambda s, a, b: _check_size(to_text(s).replace(to_text(a), to_text(b))),
    "split": lambda s, sep: to_text(s).split(to_text(sep)) if to_text(sep) else list(to_text(s)),
    "joinarrtostr": lambda a, sep=",": _check_size(to_text(sep).join(to_text(x) for x in a)),
    "concatarr": lambda a, b: [*a, *(b if isinstance(b, list) else [b])],
    "mapper": _mapper,
    "thmapper": _thmapper,
    "slice": _slice,
    "addset": lambda a, x: [
        orjson.loads(i) for i in dict.fromkeys(orjson.dumps(i) for i in [*a, x])
    ],
    "removeset": lambda a, x: [i for i in a if i != x],
    "touppercase": lambda v: to_text(v).upper(),
    "tolowercase": lambda v: to_text(v).lower(),
    "round": _round,
    "floor": lambda v: _whole(v, math.floor),
    "ceil": lambda v: _whole(v, math.ceil),
    "tofixed": _tofixed,
    "hextostring": _hextostring,
    "valuePicker": lambda v, pick: [k for k, x in v.items() if x == pick],
    "valuePickerMulti": lambda v, picks: [k for k, x in v.items() if x in picks],
}


__all__ = ["TRANSFORMS"]
