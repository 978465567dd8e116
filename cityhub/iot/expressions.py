"""The expression language of FIWARE's IoT agents (JEXL), the subset cities use, parsed
(``cityhub.iot.expression_syntax``: a tokenizer and a precedence-climbing parser to a small
tree) and evaluated safely here, over plain JSON values. Never Python ``eval``; no attribute
access on Python objects, no loops, bounded text and nesting, so an expression costs time
linear in its size and its inputs.

What it takes (iotagent-node-lib, doc/api.md "Expression language support"):

- literals: numbers, 'single' or "double" quoted strings, ``true``, ``false``, ``null``,
  arrays ``[a, b]`` and objects ``{key: value, 'k': v}``;
- identifiers (the measures and the context), members ``a.b``, indexes ``a[0]``/``a['k']``,
  filters ``list[.price > 10]`` (``.name`` is the element's member);
- ``+ - * / // % ^`` (``^`` is power), ``== != < <= > >=``, ``in``, ``&& ||``, ``!``, unary
  ``-``, ``cond ? a : b``, parentheses;
- transforms ``value|name(args)`` (``cityhub.iot.expression_functions``), chained.

Values follow JavaScript where JEXL does: ``+`` joins when either side is a string,
arithmetic reads numbers from strings, ``&&``/``||`` give an operand, a missing member is
null, a result that is not a finite number is null (FIWARE's agents drop such an attribute).

Raises InvalidExpression (parse) or ExpressionError (evaluation) with what went wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from cityhub.iot.expression_syntax import (
    MAX_DEPTH,
    MAX_LENGTH,
    ArrayLiteral,
    Binary,
    Conditional,
    Index,
    Literal,
    Member,
    Name,
    Node,
    Transform,
    Unary,
    names_in,
    parse,
)


class ExpressionError(ValueError):
    """An expression that parsed could not be evaluated on these values."""


# ---- values, as JavaScript sees them ------------------------------------------------------------


def truthy(v: Any) -> bool:
    if isinstance(v, float) and math.isnan(v):
        return False
    if isinstance(v, list | dict):
        return True
    return bool(v)


def to_number(v: Any) -> float | int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int | float):
        return v
    if v is None:  # a missing measure is JavaScript's undefined: not a number
        return math.nan
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return 0
        try:
            return int(s) if re.fullmatch(r"[+-]?\d{1,300}", s) else float(s)
        except ValueError:
            return math.nan
    if isinstance(v, list) and len(v) <= 1:
        return to_number(v[0]) if v else 0
    return math.nan


def to_text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, list):
        return ",".join("" if x is None else to_text(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    return str(v)


def _loose_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return a is b
    return bool(to_number(a) == to_number(b))


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a
        y: Any = b
    else:
        x, y = to_number(a), to_number(b)
        if isinstance(x, float) and math.isnan(x) or isinstance(y, float) and math.isnan(y):
            return False
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        if isinstance(a, str) or isinstance(b, str) or isinstance(a, list | dict):
            return to_text(a) + to_text(b)
        return to_number(a) + to_number(b)
    x, y = to_number(a), to_number(b)
    try:
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return x / y if y else (math.nan if not x else math.copysign(math.inf, x))
        if op == "//":
            return math.floor(x / y) if y else math.nan
        if op == "%":
            return math.fmod(x, y) if y else math.nan
        return math.pow(float(x), float(y))  # ^: floats, so a huge power overflows, not hangs
    except (OverflowError, ValueError):
        return math.nan


def finite(v: Any) -> Any:
    """A result as JSON can hold it: a number that is not finite is null, an integral float
    within JavaScript's safe integers an int (JEXL has one number type)."""
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
    return v


# ---- evaluation -------------------------------------------------------------------------------

Transforms = Mapping[str, Callable[..., Any]]


def _member(subject: Any, key: Any) -> Any:
    if isinstance(subject, dict):
        return subject.get(key if isinstance(key, str) else to_text(key))
    if isinstance(subject, list | str):
        if key == "length":
            return len(subject)
        if isinstance(key, int | float) and not isinstance(key, bool) and float(key).is_integer():
            k = int(key)
            return subject[k] if 0 <= k < len(subject) else None
    return None


class Evaluator:
    """Evaluates trees over a context of plain JSON values, with these transforms."""

    def __init__(self, transforms: Transforms) -> None:
        self.transforms = transforms

    def evaluate(self, node: Node, context: Mapping[str, Any]) -> Any:
        """The value of ``node`` (a finite number, string, bool, None, list or dict).

        Raises:
            ExpressionError: an unknown transform, or a transform that failed on its input.
        """
        return finite(self._eval(node, context, None))

    def _eval(self, n: Node, ctx: Mapping[str, Any], rel: Any) -> Any:
        if isinstance(n, Literal):
            return n.value
        if isinstance(n, Name):
            if n.relative:
                return _member(rel, n.name)
            return ctx.get(n.name)
        if isinstance(n, Member):
            return _member(self._eval(n.subject, ctx, rel), n.name)
        if isinstance(n, Index):
            subject = self._eval(n.subject, ctx, rel)
            if n.filter:
                if not isinstance(subject, list):
                    return None
                return [x for x in subject if truthy(self._eval(n.index, ctx, x))]
            return _member(subject, self._eval(n.index, ctx, rel))
        if isinstance(n, Binary):
            return self._binary(n, ctx, rel)
        if isinstance(n, Unary):
            v = self._eval(n.operand, ctx, rel)
            return not truthy(v) if n.op == "!" else -to_number(v)
        if isinstance(n, Conditional):
            branch = n.then if truthy(self._eval(n.test, ctx, rel)) else n.otherwise
            return self._eval(branch, ctx, rel)
        if isinstance(n, Transform):
            fn = self.transforms.get(n.name)
            if fn is None:
                raise ExpressionError(f"there is no transform named {n.name!r}")
            args = [self._eval(a, ctx, rel) for a in n.args]
            try:
                return fn(self._eval(n.subject, ctx, rel), *args)
            except ExpressionError:
                raise
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                raise ExpressionError(f"transform {n.name} failed: {exc}") from None
        if isinstance(n, ArrayLiteral):
            return [finite(self._eval(a, ctx, rel)) for a in n.items]
        return {k: finite(self._eval(v, ctx, rel)) for k, v in n.items}

    def _binary(self, n: Binary, ctx: Mapping[str, Any], rel: Any) -> Any:
        left = self._eval(n.left, ctx, rel)
        if n.op == "&&":
            return self._eval(n.right, ctx, rel) if truthy(left) else left
        if n.op == "||":
            return left if truthy(left) else self._eval(n.right, ctx, rel)
        right = self._eval(n.right, ctx, rel)
        if n.op == "==":
            return _loose_equal(left, right)
        if n.op == "!=":
            return not _loose_equal(left, right)
        if n.op in ("<", "<=", ">", ">="):
            return _compare(n.op, left, right)
        if n.op == "in":
            if isinstance(right, str):
                return to_text(left) in right
            if isinstance(right, list):
                return any(_loose_equal(left, x) and type(left) is type(x) for x in right)
            if isinstance(right, dict):
                return to_text(left) in right
            return False
        return _arith(n.op, left, right)


__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Evaluator",
    "ExpressionError",
    "Node",
    "finite",
    "names_in",
    "parse",
    "to_number",
    "to_text",
    "truthy",
]
