"""The syntax of the JEXL subset (``cityhub.iot.expressions`` evaluates it): a tokenizer and a
precedence-climbing parser to a small tree of frozen dataclasses, with bounded text
(``MAX_LENGTH``) and nesting (``MAX_DEPTH``); :func:`names_in` lists what an expression reads.
The grammar is TomFrost/Jexl's as FIWARE's IoT agents use it (iotagent-node-lib doc/api.md
"Expression language support").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cityhub.iot.errors import InvalidExpression

MAX_LENGTH = 4096
MAX_DEPTH = 48


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


__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "ArrayLiteral",
    "Binary",
    "Conditional",
    "Index",
    "Literal",
    "Member",
    "Name",
    "Node",
    "ObjectLiteral",
    "Transform",
    "Unary",
    "names_in",
    "parse",
]
