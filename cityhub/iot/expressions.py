"""The expression language of FIWARE's IoT agents (JEXL), the subset cities use, parsed and
evaluated safely: a tokenizer, a precedence-climbing parser to a small tree, and an evaluator
over plain JSON values. Never Python ``eval``; no attribute access on Python objects, no loops,
bounded text and nesting, so an expression costs time linear in its size and its inputs.

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
from dataclasses import dataclass
from typing import Any

from cityhub.iot.errors import InvalidExpression

MAX_LENGTH = 4096
MAX_DEPTH = 48


class ExpressionError(ValueError):
    """An expression that parsed could not be evaluated on these values."""


# ---- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>//|==|!=|<=|>=|&&|\|\||[-+*/%^<>!?:|.,()\[\]{}])
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | op | name | end
    text: str
    value: Any = None


def _unquote(text: str) -> str:
    out: list[str] = []
    i, body = 0, text[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            i += 1
            out.append(_ESCAPES.get(body[i], body[i]))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise InvalidExpression(
                f"expression {text!r}: unexpected character at position {pos + 1}"
                f" ({text[pos:].lstrip()[:1]!r})"
            )
        pos = m.end()
        if m.group("num") is not None:
            raw = m.group("num")
            toks.append(_Tok("num", raw, float(raw) if any(c in raw for c in ".eE") else int(raw)))
        elif m.group("str") is not None:
            toks.append(_Tok("str", m.group("str"), _unquote(m.group("str"))))
        elif m.group("op") is not None:
            toks.append(_Tok("op", m.group("op")))
        else:
            name = m.group("name")
            toks.append(_Tok("op" if name == "in" else "name", name))
    toks.append(_Tok("end", ""))
    return toks


# ---- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Name:
    name: str
    relative: bool = False  # .name inside a filter: the element's member


@dataclass(frozen=True)
class Member:
    subject: Node
    name: str


@dataclass(frozen=True)
class Index:
    subject: Node
    index: Node
    filter: bool  # the index reads the element (.name): a filter, not a position


@dataclass(frozen=True)
class Transform:
    subject: Node
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Conditional:
    test: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class ObjectLiteral:
    items: tuple[tuple[str, Node], ...]


Node = (
    Literal
    | Name
    | Member
    | Index
    | Transform
    | Unary
    | Binary
    | Conditional
    | ArrayLiteral
    | ObjectLiteral
)

#: binary operators and their precedence (TomFrost/Jexl's grammar)
_BINARY = {
    "||": 10,
    "&&": 20,
    "==": 30,
    "!=": 30,
    "<": 40,
    "<=": 40,
    ">": 40,
    ">=": 40,
    "in": 40,
    "+": 50,
    "-": 50,
    "*": 60,
    "/": 60,
    "//": 60,
    "%": 60,
    "^": 70,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def _fail(self, what: str) -> InvalidExpression:
        tok = self.toks[self.i]
        where = f"at {tok.text!r}" if tok.kind != "end" else "at its end"
        return InvalidExpression(f"expression {self.text!r}: {what} {where}")

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if text is not None and (tok.kind not in ("op",) or tok.text != text):
            raise self._fail(f"expected {text!r}")
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "op" and tok.text == text

    def parse(self) -> Node:
        node = self.expression()
        if self.peek().kind != "end":
            raise self._fail("unexpected")
        return node

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._fail(f"nested deeper than {MAX_DEPTH} levels")
        node = self.binary(0)
        if self.at("?"):
            self.take("?")
            then = self.expression()
            self.take(":")
            node = Conditional(node, then, self.expression())
        self.depth -= 1
        return node

    def binary(self, floor: int) -> Node:
        left = self.unary()
        while True:
            tok = self.peek()
            prec = _BINARY.get(tok.text) if tok.kind == "op" else None
            if prec is None or prec <= floor:
                return left
            self.take()
            # ^ is right-associative; the others left
            right = self.binary(prec - 1 if tok.text == "^" else prec)
            left = Binary(tok.text, left, right)

    def unary(self) -> Node:
        if self.at("!") or self.at("-"):
            op = self.take().text
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self._fail(f"nested deeper than {MAX_DEPTH} levels")
            operand = self.unary()
            self.depth -= 1
            return Unary(op, operand)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take(".")
                tok = self.take()
                if tok.kind != "name":
                    self.i -= 1
                    raise self._fail("expected a member name")
                node = Member(node, tok.text)
            elif self.at("["):
                self.take("[")
                start = self.i
                index = self.expression()
                relative = any(
                    t.kind == "op" and t.text == "." and (k == start or self._opens(k - 1))
                    for k, t in enumerate(self.toks[start : self.i], start)
                )
                self.take("]")
                node = Index(node, index, relative)
            elif self.at("|") and self.toks[self.i + 1].kind == "name":
                self.take("|")
                name = self.take().text
                args: list[Node] = []
                if self.at("("):
                    args = self.list_of(")")
                node = Transform(node, name, tuple(args))
            else:
                return node

    def _opens(self, k: int) -> bool:
        """Whether the token at ``k`` leaves a '.' after it a relative name (not a member)."""
        tok = self.toks[k]
        return tok.kind == "op" and tok.text not in (")", "]", "}")

    def list_of(self, close: str) -> list[Node]:
        self.take()  # the opening bracket
        items: list[Node] = []
        while not self.at(close):
            items.append(self.expression())
            if not self.at(close):
                self.take(",")
        self.take(close)
        return items

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("num", "str"):
            self.take()
            return Literal(tok.value)
        if tok.kind == "name":
            self.take()
            if tok.text in ("true", "false"):
                return Literal(tok.text == "true")
            if tok.text in ("null", "undefined"):
                return Literal(None)
            return Name(tok.text)
        if self.at("("):
            self.take("(")
            node = self.expression()
            self.take(")")
            return node
        if self.at("["):
            return ArrayLiteral(tuple(self.list_of("]")))
        if self.at("{"):
            return self.object_literal()
        if self.at("."):
            self.take(".")
            name = self.take()
            if name.kind != "name":
                self.i -= 1
                raise self._fail("expected a name after '.'")
            return Name(name.text, relative=True)
        raise self._fail("expected a value")

    def object_literal(self) -> Node:
        self.take("{")
        items: list[tuple[str, Node]] = []
        while not self.at("}"):
            key = self.take()
            if key.kind not in ("name", "str"):
                self.i -= 1
                raise self._fail("expected an object key")
            self.take(":")
            items.append((key.text if key.kind == "name" else key.value, self.expression()))
            if not self.at("}"):
                self.take(",")
        self.take("}")
        return ObjectLiteral(tuple(items))


def parse(text: str) -> Node:
    """The tree of an expression.

    Raises:
        InvalidExpression: not a string, too long, or not an expression of the subset.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidExpression(f"an expression must be a non-empty string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise InvalidExpression(f"an expression is at most {MAX_LENGTH} characters")
    return _Parser(text).parse()


def names_in(node: Node) -> set[str]:
    """The free identifiers an expression reads (not relative ones, not members)."""
    out: set[str] = set()

    def walk(n: Node) -> None:
        if isinstance(n, Name):
            if not n.relative:
                out.add(n.name)
        elif isinstance(n, Member):
            walk(n.subject)
        elif isinstance(n, Index):
            walk(n.subject)
            if not n.filter:
                walk(n.index)
        elif isinstance(n, Transform):
            walk(n.subject)
            for a in n.args:
                walk(a)
        elif isinstance(n, Unary):
            walk(n.operand)
        elif isinstance(n, Binary):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Conditional):
            walk(n.test)
            walk(n.then)
            walk(n.otherwise)
        elif isinstance(n, ArrayLiteral):
            for a in n.items:
                walk(a)
        elif isinstance(n, ObjectLiteral):
            for _, a in n.items:
                walk(a)

    walk(node)
    return out


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
