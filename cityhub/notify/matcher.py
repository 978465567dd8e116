"""Does a committed change trigger a subscription? (clause 5.8.6; members of clause 5.2.12)

A stored subscription document (internal form, ``cityhub.ngsild.subscription``) is prepared
once into a :class:`Prepared` (selectors, triggers, q/scopeQ/geoQ parsed and expanded), then
:func:`triggered` answers for one :class:`~cityhub.store.base.Change`:

- status: only ``active`` subscriptions (``isActive`` not false, ``expiresAt`` in the future);
  periodic ones (``timeInterval``) are not change-driven and never match here;
- ``entities``: any selector whose ``id``/``idPattern`` and ``type`` (a name or a type query,
  names already expanded) fit the entity;
- ``notificationTrigger`` against ``before``/``after`` (defaults attributeCreated and
  attributeUpdated), restricted to ``watchedAttributes`` when given;
- ``q`` is percent-decoded first (clients, and the ETSI suite, send it as they would in a URL,
  e.g. ``name=="Eiffel%20Tower"``);
- ``q`` and ``scopeQ`` are tested by the write transaction itself (``Transaction.matches``: the
  backend runs them as the SQL of a query against the row just written), so their meaning is
  exactly that of a query on every backend; ``geoQ`` is checked with ``geo.matches``. A deleted
  entity has no row: for ``entityDeleted`` q, scopeQ and geoQ are not applied.

Throttling needs the time of the previous notification and lives with the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cityhub.ngsild.context import TermMap, build_term_map
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import And, Node, Or, TypeName, expand_q
from cityhub.ngsild.query.geo import DEFAULT_GEOPROPERTY, GeoQuery, matches, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query
from cityhub.ngsild.regex import Pattern, compile_pattern
from cityhub.ngsild.subscription import DEFAULT_TRIGGERS, subscription_q, subscription_status
from cityhub.store.base import Change, Transaction

log = logging.getLogger("cityhub.notify")

Document = dict[str, Any]
_QUERY_CHARS = frozenset(",;|()")


def context_key(context_value: Any) -> str:
    """A hashable key for a @context value (the same for equal values)."""
    if isinstance(context_value, str):
        return context_value
    return orjson.dumps(context_value, option=orjson.OPT_SORT_KEYS).decode()


class TermMaps:
    """A synchronous cache of term maps by @context value, for code that cannot await (the
    in-transaction hook). The dispatcher fills it with ``ContextService.term_map``;
    :meth:`get` builds contexts that need no remote document on the spot and otherwise
    answers None. ``generation`` grows whenever an entry is added."""

    def __init__(self) -> None:
        self._maps: dict[str, TermMap] = {}
        self.generation = 0

    def put(self, context_value: Any, terms: TermMap) -> None:
        key = context_key(context_value)
        if key not in self._maps:
            self._maps[key] = terms
            self.generation += 1

    def known(self, context_value: Any) -> bool:
        return context_key(context_value) in self._maps

    def get(self, context_value: Any) -> TermMap | None:
        key = context_key(context_value)
        terms = self._maps.get(key)
        if terms is None:
            try:
                terms = build_term_map(context_value, {})
            except Exception:  # a remote document is needed: the dispatcher will load it
                return None
            self.put(context_value, terms)
        return terms


def _core() -> TermMap:
    return build_term_map(None, {})


@dataclass(frozen=True)
class Selector:
    id: str | None
    id_pattern: Pattern | None
    types: Node | None


@dataclass(frozen=True)
class Prepared:
    """A subscription ready to be matched against changes."""

    tenant: str
    doc: Document
    id: str
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: Node | None
    scope_q: Node | None
    geo: GeoQuery | None
    throttling: float | None
    periodic: bool


def _type_node(text: str) -> Node:
    if not any(c in _QUERY_CHARS for c in text):
        return TypeName(text)
    try:
        return parse_type_query(text)
    except Exception:
        return TypeName(text)


def prepare(tenant: str, doc: Document, term_maps: TermMaps) -> Prepared:
    """Parse a stored subscription once; q is read with the subscription's own @context."""
    selectors = tuple(
        Selector(
            e.get("id"),
            compile_pattern(e["idPattern"], "idPattern") if e.get("idPattern") else None,
            _type_node(e["type"]) if e.get("type") else None,
        )
        for e in doc.get("entities") or ()
    )
    terms: TermMap | None = None
    if doc.get("q") or doc.get("geoQ"):
        terms = term_maps.get(doc.get("@context"))
        if terms is None:
            log.warning(
                "subscription %s: its @context is not resolved yet; q read with the core context",
                doc.get("id"),
            )
            terms = _core()
    q = (
        expand_q(parse_q(subscription_q(doc["q"])), terms.expand)
        if doc.get("q") and terms
        else None
    )
    scope_q = parse_scope_q(doc["scopeQ"]) if doc.get("scopeQ") else None
    geo: GeoQuery | None = None
    raw_geo = doc.get("geoQ")
    if raw_geo:
        parsed = parse_geo_query(
            raw_geo.get("georel"), raw_geo.get("geometry"), raw_geo.get("coordinates"), None
        )
        if parsed is not None:
            geoproperty = raw_geo.get("geoproperty") or (terms or _core()).expand(
                DEFAULT_GEOPROPERTY
            )
            geo = GeoQuery(
                parsed.georel,
                parsed.geometry,
                parsed.coordinates,
                geoproperty,
                parsed.max_distance,
                parsed.min_distance,
            )
    watched = doc.get("watchedAttributes")
    throttling = doc.get("throttling")
    return Prepared(
        tenant=tenant,
        doc=doc,
        id=str(doc["id"]),
        selectors=selectors,
        watched=frozenset(watched) if watched else None,
        triggers=frozenset(doc.get("notificationTrigger") or DEFAULT_TRIGGERS),
        q=q,
        scope_q=scope_q,
        geo=geo,
        throttling=float(throttling) if throttling else None,
        periodic="timeInterval" in doc,
    )


def _types_match(node: Node, types: Iterable[str]) -> bool:
    if isinstance(node, TypeName):
        return node.name in types
    if isinstance(node, And):
        return all(_types_match(i, types) for i in node.items)
    if isinstance(node, Or):
        return any(_types_match(i, types) for i in node.items)
    return False


def selects(sub: Prepared, entity: Entity) -> bool:
    """Whether one of the subscription's entity selectors fits (no selectors: any entity)."""
    if not sub.selectors:
        return True
    types = set(entity["type"])
    for sel in sub.selectors:
        if sel.id is not None and sel.id != entity["id"]:
            continue
        if sel.id_pattern is not None and not sel.id_pattern.search(entity["id"]):
            continue
        if sel.types is not None and not _types_match(sel.types, types):
            continue
        return True
    return False


def _attrs(entity: Entity | None) -> dict[str, Any]:
    return entity["attrs"] if entity is not None else {}


def _by_dataset(instances: Any) -> dict[Any, Any]:
    return {i.get("datasetId"): i for i in instances} if isinstance(instances, list) else {}


def attribute_changes(
    before: Entity | None, after: Entity | None
) -> tuple[set[str], set[str], set[str]]:
    """Attribute IRIs (created, updated, deleted) between two versions of an entity, instance by
    instance (clause 4.5.5): a new datasetId is a creation, a vanished one a deletion."""
    old, new = _attrs(before), _attrs(after)
    created: set[str] = set()
    updated: set[str] = set()
    deleted: set[str] = set()
    for name in old.keys() | new.keys():
        was, now = old.get(name), new.get(name)
        if was == now:
            continue
        if was is None:
            created.add(name)
            continue
        if now is None:
            deleted.add(name)
            continue
        was_ds, now_ds = _by_dataset(was), _by_dataset(now)
        if now_ds.keys() - was_ds.keys():
            created.add(name)
        if was_ds.keys() - now_ds.keys():
            deleted.add(name)
        if any(was_ds[k] != now_ds[k] for k in was_ds.keys() & now_ds.keys()):
            updated.add(name)
    return created, updated, deleted


def fired_triggers(sub: Prepared, change: Change) -> set[str]:
    """The notificationTrigger values this change sets off (before the subscription's list)."""
    names = sub.watched
    created, updated, deleted = attribute_changes(change.before, change.after)
    if names is not None:
        created, updated, deleted = created & names, updated & names, deleted & names
    out: set[str] = set()
    if change.kind == "entityCreated":
        out.add("entityCreated")
        if created:
            out.add("attributeCreated")
    elif change.kind == "entityDeleted":
        out.add("entityDeleted")
        if deleted:
            out.add("attributeDeleted")
    else:
        if created:
            out.add("attributeCreated")
        if deleted:
            out.add("attributeDeleted")
        if updated:
            out.add("attributeUpdated")
        types_changed = (
            change.before is not None
            and change.after is not None
            and change.before["type"] != change.after["type"]
        )
        if created or deleted or updated or (sub.watched is None and types_changed):
            out.add("entityUpdated")
    return out


def _geo_matches(geo: GeoQuery, entity: Entity) -> bool:
    for inst in entity["attrs"].get(geo.geoproperty, ()):
        if isinstance(inst, dict) and matches(geo, inst.get("value")):
            return True
    return False


def triggered(tx: Transaction, sub: Prepared, change: Change, now: datetime) -> bool:
    """Whether ``change``, written in ``tx``, triggers a notification of ``sub``."""
    if sub.periodic or sub.tenant != change.tenant:
        return False
    if subscription_status(sub.doc, now) != "active":
        return False
    entity = change.after if change.after is not None else change.before
    if entity is None or not selects(sub, entity):
        return False
    if not fired_triggers(sub, change) & sub.triggers:
        return False
    if change.after is None:
        return True  # the row is gone: q, scopeQ and geoQ cannot be evaluated
    if sub.geo is not None and not _geo_matches(sub.geo, change.after):
        return False
    if sub.q is None and sub.scope_q is None:
        return True
    try:
        return tx.matches(change.entity_id, sub.q, sub.scope_q)
    except Exception:  # a bad stored q must not break the write
        log.exception("subscription %s: its q or scopeQ could not be evaluated", sub.id)
        return False


__all__ = [
    "Prepared",
    "TermMaps",
    "attribute_changes",
    "context_key",
    "fired_triggers",
    "prepare",
    "selects",
    "triggered",
]
