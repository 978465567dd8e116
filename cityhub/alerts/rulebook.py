"""Where the rules of each tenant come from: the defaults (``defaults.py``), overridden and
extended by the tenant's ``AlertRule`` entities.

Why entities and not an admin API: a rule is then data like any other in the tenant (created,
patched, deleted, listed and queried through the NGSI-LD API the city already uses, with its
history in the temporal API and subscriptions to its changes), it needs no second storage, and
every backend keeps it. The price is that a bad rule must be refused by the write itself:
:func:`validate_rule_change` is a transaction hook that raises ``BadRequestData`` (a 400, or a
per-entity error in a batch) before the rule is stored.

An ``AlertRule`` entity's attributes are the rule's members by local name (``ruleKind``,
``entityType``, ``watchedAttribute``, ``threshold``...; ``cityhub.alerts.rules``), written
with the core @context, so its type is ``https://uri.etsi.org/ngsi-ld/default-context/AlertRule``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cityhub.alerts.defaults import default_rules
from cityhub.alerts.observe import local_name, plain_value
from cityhub.alerts.rules import Rule, parse_rule
from cityhub.errors import BadRequestData
from cityhub.ngsild.context import DEFAULT_VOCAB
from cityhub.store.base import Change, EntityQuery, Store, Transaction

log = logging.getLogger("cityhub.services.alerts")

RULE_TYPE = DEFAULT_VOCAB + "AlertRule"
#: the per-source episode states the service keeps (``cityhub.alerts.service``)
STATE_TYPE = DEFAULT_VOCAB + "AlertState"
#: types the alert engine writes or reads as rules: never a rule's source
RESERVED_TYPES = frozenset({"Alert", "AlertRule", "AlertState"})
#: members of an AlertRule entity that are not rule members (a city may name and describe it)
_IGNORED = frozenset({"name", "description"})
#: the most rules a tenant may have (a rule query reads them all)
MAX_RULES = 1000


def rule_values(entity: Mapping[str, Any]) -> dict[str, Any]:
    """An AlertRule entity's attributes as plain values by local name."""
    values: dict[str, Any] = {}
    for iri, instances in entity.get("attrs", {}).items():
        name = local_name(iri)
        if name in _IGNORED or not instances or name in values:
            continue
        values[name] = plain_value(instances[0])
    return values


def is_rule_entity(entity: Mapping[str, Any] | None) -> bool:
    return entity is not None and any(local_name(t) == "AlertRule" for t in entity.get("type", ()))


def rule_of(entity: Mapping[str, Any]) -> Rule:
    """The rule an AlertRule entity states.

    Raises:
        BadRequestData: the entity is not a valid rule (the detail says why).
    """
    rule_id = str(entity.get("id"))
    if RULE_TYPE not in entity.get("type", ()):
        raise BadRequestData(
            f"AlertRule {rule_id}: its type must be AlertRule in the core @context "
            f"({RULE_TYPE}); got {', '.join(entity.get('type', ()))}"
        )
    rule = parse_rule(rule_id, rule_values(entity))
    if rule.entity_type in RESERVED_TYPES:
        raise BadRequestData(
            f"AlertRule {rule_id}: entityType {rule.entity_type} is the alert engine's own "
            "type; a rule watches observations and devices, not "
            + ", ".join(sorted(RESERVED_TYPES))
        )
    return rule


def validate_rule_change(tx: Transaction, change: Change) -> None:
    """The transaction hook that refuses an invalid AlertRule before it is stored."""
    if change.after is not None and is_rule_entity(change.after):
        rule_of(change.after)


class RuleBook:
    """The rules of every tenant, cached: the defaults, then each tenant's AlertRule entities
    (read again at most every ``ttl`` seconds, and at once in this process when its hook sees
    a rule change).

    Args:
        defaults: the rules every tenant starts with.
        ttl: seconds a tenant's rules are used before they are read again.
        clock: seconds (tests pass a fake).
    """

    def __init__(
        self,
        defaults: Iterable[Rule] | None = None,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.defaults = {r.id: r for r in (default_rules() if defaults is None else defaults)}
        self.ttl = ttl
        self.clock = clock
        self._custom: dict[str, dict[str, Rule]] = {}
        self._read_at: dict[str, float] = {}
        self._rules: dict[str, list[Rule]] = {}
        self._watched: dict[str, dict[str, frozenset[str] | None]] = {}
        self._by_type: dict[str, dict[str, list[Rule]]] = {}
        self._default_rules = [r for r in self.defaults.values() if r.enabled]
        self._default_watched = _watched(self._default_rules)
        self._default_by_type = _by_type(self._default_rules)

    def rules(self, tenant: str) -> list[Rule]:
        """The tenant's enabled rules (as last read)."""
        return self._rules.get(tenant, self._default_rules)

    def rules_for(self, tenant: str, type_names: Iterable[str]) -> list[Rule]:
        """The tenant's enabled rules that watch one of ``type_names`` (local names), in
        the order of :meth:`rules`: an entity's evaluation looks at these only (a tenant has
        some 30 rules, an entity's type two to ten of them)."""
        by_type = self._by_type.get(tenant, self._default_by_type)
        found = [r for name in set(type_names) for r in by_type.get(name, ())]
        if len(found) > 1:
            order = {r.id: n for n, r in enumerate(self.rules(tenant))}
            found.sort(key=lambda r: order[r.id])
        return found

    def watched(self, tenant: str) -> dict[str, frozenset[str] | None]:
        """Entity type local name -> the attribute local names its rules read (None: all)."""
        return self._watched.get(tenant, self._default_watched)

    def known(self, tenant: str) -> bool:
        return tenant in self._read_at

    def _set(self, tenant: str, custom: dict[str, Rule]) -> None:
        merged = {**self.defaults, **custom}
        rules = [r for r in merged.values() if r.enabled]
        # replaced whole, never mutated: the hook reads them on the writer thread
        self._custom[tenant] = custom
        self._rules[tenant] = rules
        self._watched[tenant] = _watched(rules)
        self._by_type[tenant] = _by_type(rules)

    def note_change(self, change: Change) -> None:
        """A rule entity changed in this process (the hook): use it now."""
        custom = dict(self._custom.get(change.tenant, {}))
        if change.after is None:
            custom.pop(change.entity_id, None)
        else:
            try:
                custom[change.entity_id] = rule_of(change.after)
            except BadRequestData:  # refused by validate_rule_change: never stored
                return
        self._set(change.tenant, custom)

    async def refresh(self, store: Store, tenant: str, force: bool = False) -> None:
        """Read the tenant's AlertRule entities again when the cached ones are older than
        ``ttl``."""
        now = self.clock()
        if not force and now - self._read_at.get(tenant, -1e18) < self.ttl:
            return
        result = await store.query_entities(
            tenant, EntityQuery(types=(RULE_TYPE,), limit=MAX_RULES)
        )
        custom: dict[str, Rule] = {}
        for entity in result.entities:
            try:
                custom[entity["id"]] = rule_of(entity)
            except BadRequestData as exc:  # stored before a check existed: skip, say so
                log.warning("alert rule %s of tenant %r is not used: %s", entity["id"], tenant, exc)
        self._set(tenant, custom)
        self._read_at[tenant] = now


def _by_type(rules: Iterable[Rule]) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = {}
    for rule in rules:
        out.setdefault(rule.entity_type, []).append(rule)
    return out


def _watched(rules: Iterable[Rule]) -> dict[str, frozenset[str] | None]:
    out: dict[str, set[str] | None] = {}
    for rule in rules:
        names: set[str] | None
        if rule.kind == "deviceOffline":
            names = {rule.report_attribute} if rule.report_attribute else None
        else:
            names = {
                n for n in (rule.attribute, rule.threshold_attribute, rule.ratio_attribute) if n
            }
        current = out.get(rule.entity_type, set())
        if current is None or names is None:
            out[rule.entity_type] = None
        else:
            out[rule.entity_type] = current | names
    return {t: (frozenset(n) if n is not None else None) for t, n in out.items()}


__all__ = [
    "MAX_RULES",
    "RESERVED_TYPES",
    "RULE_TYPE",
    "STATE_TYPE",
    "RuleBook",
    "is_rule_entity",
    "rule_of",
    "rule_values",
    "validate_rule_change",
]
