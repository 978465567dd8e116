"""A forwarded request in another @context (ETSI GS CIM 009 v1.9.1 clause 4.3.6.6): when a
registration's ``contextSourceInfo`` names a ``jsonldContext``, "the Context Broker shall apply
a compaction operation ... over both payload and query parameters using the JSON-LD Context
supplied", forward it with that context and remove any ``@context`` member from the payload.

The names a request holds (attribute and sub-attribute names, entity types, the names in
``q``, ``attrs``, ``pick``, ``omit``, ``geoproperty`` and a type selector) are expanded with
the caller's terms and compacted with the registration's: :class:`Recompact`. Values are
left as they are.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.names import ATTRIBUTE_MEMBERS, ENTITY_MEMBERS
from cityhub.ngsild.query.q import rename_q

#: Names that are the API's own, never a term of a context.
_RESERVED: Final = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})
#: A name in a type selector (clause 4.17): what ``,;|()`` and spaces separate.
_TYPE_NAME: Final = re.compile(r"[^,;|()\s]+")
#: Query parameters holding comma-separated names.
_NAME_LISTS: Final = frozenset({"attrs", "pick", "omit"})


@dataclass(frozen=True)
class Recompact:
    """Names written with ``source`` terms (the caller's), rewritten with ``target`` terms (the
    registration's ``jsonldContext``)."""

    source: TermMap
    target: TermMap

    def name(self, name: str) -> str:
        if name in _RESERVED or name.startswith("@"):
            return name
        return self.target.compact(self.source.expand(name))

    def types(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.name(t) if isinstance(t, str) else t for t in value]
        return self.name(value) if isinstance(value, str) else value

    def selector(self, text: str) -> str:
        """A type selector (clause 4.17), its names rewritten."""
        return _TYPE_NAME.sub(lambda m: self.name(m.group(0)), text)

    def q(self, text: str) -> str:
        return rename_q(text, lambda n, first: self.name(n) if first else self._sub(n))

    def _sub(self, name: str) -> str:
        return self.target.compact(self.source.expand(name))

    def params(self, params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Query parameters with their names rewritten."""
        out = []
        for key, value in params:
            if key == "type":
                value = self.selector(value)
            elif key in _NAME_LISTS:
                value = ",".join(self.name(n) for n in value.split(","))
            elif key == "q":
                value = self.q(value)
            elif key == "geoproperty":
                value = self.name(value)
            out.append((key, value))
        return out

    def _attribute(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._attribute(v) for v in value]
        if not isinstance(value, dict):
            return value
        return {
            (k if k in ATTRIBUTE_MEMBERS or k.startswith("@") else self._sub(k)): (
                v if k in ATTRIBUTE_MEMBERS else self._attribute(v)
            )
            for k, v in value.items()
        }

    def entity(self, body: dict[str, Any]) -> dict[str, Any]:
        """An entity or entity fragment without its ``@context``, its names rewritten."""
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key == "@context":
                continue
            if key == "type":
                out[key] = self.types(value)
            elif key in ENTITY_MEMBERS:
                out[key] = value
            else:
                out[self.name(key)] = self._attribute(value)
        return out

    def body(self, body: Any) -> Any:
        """A forwarded payload: an entity or fragment, a list of them (a batch; entity ids
        stay), or a Query (clause 5.2.23: its entity types, attrs, pick, omit and q)."""
        if isinstance(body, list):
            return [self.body(b) if isinstance(b, dict) else b for b in body]
        if not isinstance(body, dict):
            return body
        if body.get("type") != "Query":
            return self.entity(body)
        out = {k: v for k, v in body.items() if k != "@context"}
        if isinstance(out.get("entities"), list):
            out["entities"] = [
                {**e, "type": self.selector(e["type"])}
                if isinstance(e, dict) and isinstance(e.get("type"), str)
                else e
                for e in out["entities"]
            ]
        for key in _NAME_LISTS:
            if isinstance(out.get(key), list):
                out[key] = [self.name(n) if isinstance(n, str) else n for n in out[key]]
        if isinstance(out.get("q"), str):
            out["q"] = self.q(out["q"])
        return out
