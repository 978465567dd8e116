"""The alert engine as a city service (``cityhub.services``): rules evaluated on the change
stream and, for devices that stop reporting, on a timer.

1. Inside the write (:meth:`AlertService.requests`): a change of an entity whose type a rule
   of the tenant watches queues one work item keyed by the entity (a burst of writes to it
   costs one evaluation), carrying the watched attributes after the change and, of before
   it, only those that differ (``beforeDiff``; only watched attributes, without the system
   times of instances that have ``observedAt``: the item is written in the client's
   transaction; the alert's text reads the source's name and place in the evaluation's
   transaction, when it acts). A service's write-back (the air-quality
   service's index of an hour whose reading was just evaluated) asks only for the rules that
   read what it changed (``onlyChanged``), and for nothing when it changed nothing a rule
   reads: one evaluation of each rule per reading. Its item is evaluated whole when another
   item of the source was merged with it before a worker took it (``_only``: the queue counts
   merges, ``WorkItem.merged``).
2. After the commit (:meth:`AlertService.process`): one transaction reads the source's
   ``AlertState`` entity (the episode state of every rule on it), steps each rule's state
   machine (``episode.step``), creates, updates or closes the ``Alert`` entities, and writes
   the state back, or deletes it when every rule is idle. State and alerts commit together,
   so a SIGKILL at any point neither loses an alert nor raises one twice; a work item run
   again finds its observation already applied (``late``/no-op); two workers that evaluate
   one source at once are serialized by the state row (PostgreSQL locks it; a second insert
   of a new state is ``AlreadyExists`` and the evaluation runs again on what the first wrote).
3. Every ``interval`` seconds (:meth:`AlertService.tick`): for each tenant's ``deviceOffline``
   rules, the sources whose last report is ``intervalFactor`` x ``expectedInterval`` behind
   both the wall clock and the freshest source of the rule (a replay or a simulation running
   on its own time is judged on that time) get their alert, in the same kind of transaction;
   the alert id is derived from (rule, source, last report), so of several workers one
   creates it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from cityhub.alerts.alert_entity import changed_alert, new_alert
from cityhub.alerts.episode import (
    READING_SPAN,
    Action,
    EpisodeState,
    Observation,
    Step,
    check_offline,
    condition,
    evolve,
    offline_due,
    step,
)
from cityhub.alerts.observe import epoch, local_name, observe, plain_value, report_time
from cityhub.alerts.rulebook import (
    RESERVED_TYPES,
    STATE_TYPE,
    RuleBook,
    is_rule_entity,
    rule_values,
)
from cityhub.alerts.rules import Rule, parse_rule
from cityhub.errors import AlreadyExists, BadRequestData
from cityhub.ngsild.context import DEFAULT_VOCAB
from cityhub.ngsild.datetime import format_datetime, now_iso
from cityhub.ngsild.ops import new_entity
from cityhub.ngsild.plain import LocalNames
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.services import CityService, ServiceContext, WorkRequest, current_cause
from cityhub.store.base import Change, EntityQuery, Transaction
from cityhub.store.work import WorkItem

Entity = dict[str, Any]
_STATES = DEFAULT_VOCAB + "ruleStates"
_SOURCE = DEFAULT_VOCAB + "alertSource"
#: attributes an alert's text and place read of its source (not carried by the work items:
#: read in the evaluation's transaction when it acts, which few evaluations do)
_CONTEXT_ATTRS = frozenset({"name", "location"})
#: system times a work item drops from an instance that has ``observedAt`` (a rule reads
#: ``observedAt`` first: ``observe.instance_time``)
_STAMPS = ("createdAt", "modifiedAt")
#: the state of a rule that has none stored (frozen: one for all)
_IDLE = EpisodeState()
#: entities the offline timer reads per query page
_PAGE = 1000
#: a service's write-back item: the watched attributes it changed (local names): ``_only``
_ONLY = "onlyChanged"
#: an item's entity before the change, as what differs from its ``after`` (``_diff_change``)
_DIFF = "beforeDiff"


def state_id(source: str) -> str:
    """The id of the ``AlertState`` entity of one source entity."""
    return "urn:ngsi-ld:AlertState:" + hashlib.sha256(source.encode()).hexdigest()[:32]


def _observed(instances: Any) -> Any:
    """An attribute's instances without the system times of those that have ``observedAt``."""
    if not isinstance(instances, list):
        return instances
    out = []
    for inst in instances:
        if isinstance(inst, dict) and "observedAt" in inst:
            inst = inst.copy()  # (a copy and two pops: a third of a comprehension's time)
            for stamp in _STAMPS:
                inst.pop(stamp, None)
        out.append(inst)
    return out


def _diff_change(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    names: Container[str],
    local: Mapping[str, str],
) -> tuple[Entity, Entity | None]:
    """What a work item carries of a change (a row written in the client's transaction: the
    less JSON, the shorter the write): ``after``'s attributes a rule may read (``names``;
    ``local``: IRI -> local name, remembered), each instance that has ``observedAt`` without
    its system times; and ``before`` as what differs from that (:func:`_before`): its
    ``modifiedAt`` and the watched attributes whose slim instances differ (None: ``before``
    had none), those ``after`` dropped included; None for a created entity. An attribute the
    change left as it was (an update of some attributes, the index a reading leaves in place)
    is carried once."""
    new = after.get("attrs", {})
    old = before.get("attrs", {}) if before is not None else None
    attrs: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    for iri, instances in new.items():
        if local[iri] not in names:
            continue
        slim = attrs[iri] = _observed(instances)
        if old is None:
            continue
        was = old.get(iri)
        if was is None:
            diff[iri] = None
        elif was is not instances and was != instances:
            was = _observed(was)
            if was != slim:
                diff[iri] = was
    if old is not None:
        for iri, was in old.items():
            if iri not in new and local[iri] in names:
                diff[iri] = _observed(was)
    slim_after = {
        "id": after["id"],
        "type": list(after.get("type", ())),
        "modifiedAt": after.get("modifiedAt"),
        "attrs": attrs,
    }
    if before is None:
        return slim_after, None
    return slim_after, {"modifiedAt": before.get("modifiedAt"), "attrs": diff}


def _before(payload: Mapping[str, Any], after: Mapping[str, Any]) -> Entity | None:
    """The entity before the item's change, as a rule reads it: ``after`` with the attributes
    :func:`_diff_change` found different put back as they were (in ``after``'s order, those
    the change dropped last). An item queued before ``beforeDiff`` carries ``before`` whole."""
    diff = payload.get(_DIFF)
    if not isinstance(diff, dict):
        before = payload.get("before")
        return before if isinstance(before, dict) else None
    changed = diff.get("attrs")
    if not isinstance(changed, dict):
        changed = {}
    attrs: dict[str, Any] = {}
    for iri, instances in after.get("attrs", {}).items():
        if iri not in changed:
            attrs[iri] = instances
        elif changed[iri] is not None:
            attrs[iri] = changed[iri]
    for iri, instances in changed.items():
        if iri not in attrs and instances is not None:
            attrs[iri] = instances
    return {
        "id": after.get("id"),
        "type": list(after.get("type", ())),
        "modifiedAt": diff.get("modifiedAt"),
        "attrs": attrs,
    }


def _whole(entity: Mapping[str, Any] | None) -> Entity | None:
    """What a work item carries of an entity while the tenant's rules are not known yet (any
    attribute may be read): every attribute, as it is."""
    if entity is None:
        return None
    return {
        "id": entity["id"],
        "type": list(entity.get("type", ())),
        "modifiedAt": entity.get("modifiedAt"),
        "attrs": entity.get("attrs", {}),
    }


def _only(item: WorkItem) -> frozenset[str] | None:
    """The attribute names a service's write-back changed, when the item is that write-back's
    alone; None: evaluate every rule of the source's types.

    The item stands for the write-back alone when the queue merged nothing with it
    (``WorkItem.merged``, counted by the queue's own statement: no clock of any process or
    machine decides it). Merged (a client's reading not evaluated yet, whose payload the
    write-back's replaced), every rule is evaluated, as for any coalesced item."""
    names = item.payload.get(_ONLY)
    if not isinstance(names, list) or item.merged:
        return None
    return frozenset(n for n in names if isinstance(n, str))


def _reads(rule: Rule, names: frozenset[str]) -> bool:
    """Whether ``rule`` reads one of ``names`` (a deviceOffline rule without a report
    attribute reads every attribute's time)."""
    if rule.kind == "deviceOffline":
        return rule.report_attribute is None or rule.report_attribute in names
    return any(
        n in names for n in (rule.attribute, rule.threshold_attribute, rule.ratio_attribute) if n
    )


def _with_context(tx: Transaction, source: Mapping[str, Any]) -> Mapping[str, Any]:
    """``source`` (a work item's slim entity) with the stored entity's ``name`` and
    ``location``, which an alert's text and place read (the source as it is: deleted, none)."""
    attrs = source.get("attrs", {})
    if any(local_name(iri) in _CONTEXT_ATTRS for iri in attrs):
        return source
    stored = tx.get(str(source.get("id")))
    if stored is None:
        return source
    extra = {
        iri: v
        for iri, v in stored.get("attrs", {}).items()
        if iri not in attrs and local_name(iri) in _CONTEXT_ATTRS
    }
    return {**source, "attrs": {**attrs, **extra}} if extra else source


class AlertService(CityService):
    """The alert engine.

    Args:
        rulebook: the rules of every tenant (defaults and AlertRule entities).
        interval: seconds between two offline checks (None: no timer).
        clock: seconds since the epoch (tests pass a fake).
    """

    name = "alerts"

    def __init__(
        self,
        rulebook: RuleBook | None = None,
        interval: float | None = 60.0,
        clock: Callable[[], float] = time.time,
        zone: tzinfo = UTC,
    ) -> None:
        self.rulebook = rulebook or RuleBook()
        self.interval = interval
        self.clock = clock
        #: the city's time zone: alert descriptions give their times in it
        self.zone = zone
        self._names = LocalNames()  # for the hook, which runs in every write

    # ---- inside the write transaction ----------------------------------------------------
    def requests(self, change: Change) -> Iterable[WorkRequest]:
        entity = change.after if change.after is not None else change.before
        if entity is None:
            return ()
        local = self._names
        types = {local[t] for t in entity.get("type", ())}
        if types & RESERVED_TYPES:
            if is_rule_entity(change.after) or is_rule_entity(change.before):
                self.rulebook.note_change(change)
                ended = _ended_rule(change)
                if ended is not None:  # its open episodes end with it
                    return (WorkRequest(key=change.entity_id, payload={"endedRule": ended}),)
            return ()
        if change.after is None:  # a deleted source: its open alerts stay as they were
            return ()
        watched = self.rulebook.watched(change.tenant)
        names: set[str] | None = set()
        if not self.rulebook.known(change.tenant):
            # this process has not read the tenant's rules yet (it just started): its own
            # rules may watch any type, so the first items go to the worker, which reads them
            names = None
        for type_name in types & watched.keys():
            wanted = watched[type_name]
            names = None if wanted is None or names is None else names | wanted
        if names is None:  # whole, as they are
            payload: dict[str, Any] = {"before": _whole(change.before)}
            payload["after"] = _whole(change.after)
            return (WorkRequest(key=change.entity_id, payload=payload),)
        if not names:
            return ()
        after, diff = _diff_change(change.before, change.after, names, local)
        payload = {"after": after, _DIFF: diff}
        if diff is not None and current_cause():
            # a service's write-back (the air-quality service's index of the hour the client's
            # reading just had evaluated): only the rules that read what it changed need it
            if not diff["attrs"]:
                return ()  # nothing a rule reads (its stamps aside) changed
            payload[_ONLY] = sorted({local[iri] for iri in diff["attrs"]})
        return (WorkRequest(key=change.entity_id, payload=payload),)

    # ---- after the commit ------------------------------------------------------------------
    async def prepare(self, items: Sequence[WorkItem], ctx: ServiceContext) -> None:
        """The episode states of the batch's sources, one query per tenant
        (``ctx.batch["states"]``: (tenant, state id) -> the AlertState entity or None)."""
        wanted: dict[str, list[str]] = {}
        for item in items:
            after = item.payload.get("after")
            if isinstance(after, dict) and "endedRule" not in item.payload:
                wanted.setdefault(item.tenant, []).append(state_id(str(after.get("id"))))
        states: dict[tuple[str, str], Entity | None] = {}
        for tenant, ids in wanted.items():
            page = await ctx.store.query_entities(
                tenant, EntityQuery(ids=tuple(ids), types=(STATE_TYPE,), limit=len(ids))
            )
            found = {e["id"]: e for e in page.entities}
            states.update(((tenant, sid), found.get(sid)) for sid in ids)
        ctx.batch["states"] = states

    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        ended = item.payload.get("endedRule")
        if isinstance(ended, dict):
            await self.end_rule(ctx, item.tenant, ended)
            return
        after = item.payload.get("after")
        if not isinstance(after, dict):
            return
        before = _before(item.payload, after)
        await self.rulebook.refresh(ctx.store, item.tenant)
        observed = []
        types = [local_name(t) for t in after.get("type", ())]
        rules = self.rulebook.rules_for(item.tenant, types)
        only = _only(item)
        if only is not None:
            rules = [r for r in rules if _reads(r, only)]
        for rule in rules:
            obs = observe(rule, before, after)
            if obs is not None:
                observed.append((rule, obs))
        if not observed:
            return
        bad = sum(
            1 for rule, obs in observed if rule.kind == "outOfRange" and condition(rule, obs, _IDLE)
        )
        if bad:  # bad data is counted (and alerted), never a failure of the service
            ctx.stats.count("outOfRangeReadings", bad)
        stored = await self._stored_states(ctx, item.tenant, after["id"])
        earlier = await self._history(ctx, item.tenant, after, observed, stored)

        def evaluate(states: dict[str, EpisodeState]) -> list[tuple[Rule, Step]]:
            out = []
            for rule, obs in observed:
                state = states.get(rule.id)
                if rule.id in earlier:  # readings it has not seen: those first
                    result = replay(rule, state, earlier[rule.id], obs)
                else:
                    result = step(rule, state or _IDLE, obs)
                out.append((rule, result))
            return out

        if not _changes_anything(stored, evaluate):
            return  # the usual case: nothing goes on, no transaction
        # the item's one write: the item leaves the queue with the alert it raised
        await self._apply(ctx, item.tenant, after["id"], after, evaluate, finish=True)

    @staticmethod
    async def _stored_states(
        ctx: ServiceContext, tenant: str, source_id: str
    ) -> dict[str, EpisodeState]:
        """The source's episode states as stored now, or as the batch's ``prepare`` read them
        (outside the transaction: only to decide what history to read and whether the
        evaluation acts; the transaction reads them again)."""
        sid = state_id(source_id)
        prepared = ctx.batch.get("states", {})
        if (tenant, sid) in prepared:
            entity = prepared[(tenant, sid)]
        else:
            entity = await ctx.store.get_entity(tenant, sid)
        return _states_of(entity)[1]

    async def _history(
        self,
        ctx: ServiceContext,
        tenant: str,
        after: Mapping[str, Any],
        observed: list[tuple[Rule, Observation]],
        stored: Mapping[str, EpisodeState],
    ) -> dict[str, list[Observation]]:
        """The readings a rule has not seen, from the history, when they matter:

        - an episode is going on and readings came between the last one it applied and this
          one's predecessor, or the predecessor is unknown (writes to one entity coalesce into
          one work item, a worker was down): they are applied first, so the peak, the
          durations and the exit see them;
        - no episode, the condition holds, and there is no earlier reading in the change or it
          held too (a restart, history written through the temporal API such as the demo's
          backfill, a rule created during an episode): how long it has held decides whether
          the alert opens now;
        - a ``window`` rule with no state for the source yet: the readings of its window (and
          of ``enterAfter`` before it) make the aggregate.
        """
        out: dict[str, list[Observation]] = {}
        for rule, obs in observed:
            if rule.kind == "deviceOffline":
                continue
            state = stored.get(rule.id)
            if state is not None and state.last_at is not None:
                if obs.at <= state.last_at:
                    continue  # applied already: late
                if obs.previous_at is not None and obs.previous_at <= state.last_at:
                    continue  # nothing in between
                # readings in between, or a predecessor the item lost (it coalesced with a
                # later change that kept the reading): without it the reading would stand
                # for no time at all, and an exit or entry would wait for the next one
                start = state.last_at
            elif rule.kind == "window":
                # no state yet (the first reading seen, history through the temporal API): the
                # window's readings before this one, and the time before it the entry counts
                start = obs.at - rule.window - rule.enter_after - READING_SPAN
            else:
                if rule.enter_after <= 0 or rule.kind not in ("threshold", "ratio"):
                    continue
                if not condition(rule, obs, _IDLE):
                    continue
                if obs.previous_at is not None:
                    previous = evolve(obs, value=obs.previous_value, at=obs.previous_at)
                    if not condition(rule, previous, _IDLE):
                        continue  # it has just begun: the change says all there is
                start = obs.at - rule.enter_after - READING_SPAN
            names = {rule.attribute, rule.ratio_attribute} - {None}
            iris = [iri for iri in after.get("attrs", {}) if local_name(iri) in names]
            query = TemporalQuery(timerel="between", time_at=_iso(start), end_time_at=_iso(obs.at))
            found = await ctx.temporal.get_entity(tenant, after["id"], query, attrs=iris)
            if found is not None:
                out[rule.id] = earlier_observations(rule, found[1], obs)
        return out

    async def end_rule(self, ctx: ServiceContext, tenant: str, ended: dict[str, Any]) -> int:
        """A rule was deleted or switched off: close its open alerts (``validTo`` now) and drop
        its episode states, unless it is back by now; how many sources it had episodes on."""
        try:
            rule = parse_rule(str(ended["id"]), ended["values"])
        except (BadRequestData, KeyError, TypeError):
            return 0
        await self.rulebook.refresh(ctx.store, tenant, force=True)
        if any(r.id == rule.id for r in self.rulebook.rules(tenant)):
            return 0
        sources: list[str] = []
        offset = 0
        while True:
            page = await ctx.store.query_entities(
                tenant, EntityQuery(types=(STATE_TYPE,), limit=_PAGE, offset=offset)
            )
            for entity in page.entities:
                value = (entity["attrs"].get(_STATES) or [{}])[0].get("value")
                link = (entity["attrs"].get(_SOURCE) or [{}])[0].get("object")
                if isinstance(value, dict) and rule.id in value and isinstance(link, str):
                    sources.append(link)
            if len(page.entities) < _PAGE:
                break
            offset += _PAGE
        now = self.clock()
        for source_id in sources:
            source = await ctx.store.get_entity(tenant, source_id) or {"id": source_id}

            def evaluate(
                states: dict[str, EpisodeState], source_id: str = source_id
            ) -> list[tuple[Rule, Step]]:
                return [(rule, end_episode(rule, states.get(rule.id), source_id, now))]

            await self._apply(ctx, tenant, source_id, source, evaluate)
        return len(sources)

    async def tick(self, ctx: ServiceContext) -> None:
        """The offline check of every tenant."""
        for tenant in ["", *await ctx.store.list_tenants()]:
            await self.rulebook.refresh(ctx.store, tenant)
            for rule in self.rulebook.rules(tenant):
                if rule.kind == "deviceOffline":
                    await self.check_offline(ctx, tenant, rule)
        ctx.stats.count("offlineRounds")

    async def check_offline(self, ctx: ServiceContext, tenant: str, rule: Rule) -> int:
        """Open the alerts of ``rule``'s sources that are offline now; how many sources were
        overdue."""
        types = [
            t for t in await ctx.store.entity_types(tenant) if local_name(t) == rule.entity_type
        ]
        if not types:
            return 0
        reports: list[tuple[Entity, float]] = []
        offset = 0
        while True:
            page = await ctx.store.query_entities(
                tenant, EntityQuery(types=tuple(types), limit=_PAGE, offset=offset)
            )
            for entity in page.entities:
                at = report_time(rule, entity)
                if at is not None:
                    reports.append((entity, at))
            if len(page.entities) < _PAGE:
                break
            offset += _PAGE
        if not reports:
            return 0
        now = min(self.clock(), max(at for _, at in reports))
        overdue = [(e, at) for e, at in reports if now >= offline_due(rule, at)]
        for entity, at in overdue:

            def evaluate(
                states: dict[str, EpisodeState], entity: Entity = entity, at: float = at
            ) -> list[tuple[Rule, Step]]:
                state = states.get(rule.id, EpisodeState())
                return [(rule, check_offline(rule, state, entity["id"], at, now))]

            await self._apply(ctx, tenant, entity["id"], entity, evaluate)
        return len(overdue)

    async def _apply(
        self,
        ctx: ServiceContext,
        tenant: str,
        source_id: str,
        source: Mapping[str, Any],
        evaluate: Callable[[dict[str, EpisodeState]], list[tuple[Rule, Step]]],
        finish: bool = False,
    ) -> None:
        def run(tx: Transaction) -> dict[str, int]:
            return _evaluate_in(tx, source_id, source, evaluate, now_iso(), self.zone)

        try:
            counts = await ctx.write(tenant, run, finish=finish)
        except AlreadyExists:  # another worker stored the first state of this source just now
            counts = await ctx.write(tenant, run, finish=finish)
        for name, n in counts.items():
            ctx.stats.count(name, n)


def _ended_rule(change: Change) -> dict[str, Any] | None:
    """The rule a change deleted or switched off (its id and members), None otherwise."""
    if change.after is None and change.before is not None:
        return {"id": change.entity_id, "values": rule_values(change.before)}
    if change.after is None:
        return None
    now_off = rule_values(change.after).get("enabled") is False
    was_on = change.before is None or rule_values(change.before).get("enabled") is not False
    if now_off and was_on:
        return {"id": change.entity_id, "values": rule_values(change.after)}
    return None


def end_episode(rule: Rule, state: EpisodeState | None, source: str, now: float) -> Step:
    """The episode of a rule that ended: its alert closed at ``now``, the state idle."""
    if state is None or state.alert_id is None or state.started is None:
        return Step(EpisodeState(), [])
    if state.phase not in ("active", "clearing"):
        return Step(EpisodeState(), [])
    closing = Action(
        "close",
        state.alert_id,
        rule,
        source,
        valid_from=state.started,
        at=now,
        value=state.last_value,
        peak=state.peak,
        valid_to=now,
    )
    return Step(EpisodeState(), [closing])


def _iso(seconds: float) -> str:
    return format_datetime(datetime.fromtimestamp(seconds, UTC))


def earlier_observations(
    rule: Rule, history: Mapping[str, list[dict[str, Any]]], obs: Observation
) -> list[Observation]:
    """The source's readings of ``rule``'s attribute before ``obs``, oldest first, each with
    the ratio attribute's reading of the same time."""
    readings: list[tuple[float, Any]] = []
    ratios: dict[float, Any] = {}
    for iri, instances in history.items():
        name = local_name(iri)
        for inst in instances:
            if "datasetId" in inst:
                continue
            at = epoch(inst.get("observedAt"))
            if at is None or at >= obs.at:
                continue
            if name == rule.attribute:
                readings.append((at, plain_value(inst)))
            elif name == rule.ratio_attribute:
                ratios[at] = plain_value(inst)
    readings.sort(key=lambda r: r[0])
    out: list[Observation] = []
    previous: tuple[float, Any] | None = None
    for at, value in readings:
        out.append(
            Observation(
                obs.source,
                at,
                value,
                threshold=obs.threshold,
                ratio_value=ratios.get(at),
                previous_value=previous[1] if previous else None,
                previous_at=previous[0] if previous else None,
            )
        )
        previous = (at, value)
    return out


def replay(
    rule: Rule, state: EpisodeState | None, earlier: list[Observation], obs: Observation
) -> Step:
    """The state machine run over ``earlier`` readings and then ``obs``, from ``state`` (None:
    idle; readings it has applied already are skipped as late): the actions of every step,
    the state of the last."""
    current = state or EpisodeState()
    actions: list[Action] = []
    if earlier:
        last = earlier[-1]
        obs = evolve(obs, previous_value=last.value, previous_at=last.at)
    for reading in [*earlier, obs]:
        result = step(rule, current, reading)
        current = result.state
        actions.extend(result.actions)
    return Step(current, actions)


def _changes_anything(
    stored: dict[str, EpisodeState],
    evaluate: Callable[[dict[str, EpisodeState]], list[tuple[Rule, Step]]],
) -> bool:
    """Whether evaluating on the states as last read would act or change a state (the
    transaction evaluates again on what it reads)."""
    for rule, result in evaluate(dict(stored)):
        if result.actions or result.state.differs_from(stored.get(rule.id, _IDLE)):
            return True
    return False


def _states_of(
    entity: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, EpisodeState]]:
    """An AlertState entity's documents and states by rule id (empty without one)."""
    if entity is None:
        return {}, {}
    value = (entity["attrs"].get(_STATES) or [{}])[0].get("value")
    docs = dict(value) if isinstance(value, dict) else {}
    states = {}
    for rule_id, doc in docs.items():
        try:
            states[rule_id] = EpisodeState.from_doc(doc)
        except TypeError:  # a document a client changed: start again
            continue
    return docs, states


def _evaluate_in(
    tx: Transaction,
    source_id: str,
    source: Mapping[str, Any],
    evaluate: Callable[[dict[str, EpisodeState]], list[tuple[Rule, Step]]],
    now: str,
    zone: tzinfo,
) -> dict[str, int]:
    """Inside one transaction: read the source's states, step the rules, write the alerts and
    the states. Returns what it did, counted: ``alertsOpened``, ``alertsUpdated``,
    ``alertsClosed``, ``lateObservations``."""
    sid = state_id(source_id)
    stored = tx.get(sid)
    docs, states = _states_of(stored)
    counts: dict[str, int] = {}
    changed = False
    context: Mapping[str, Any] | None = None
    for rule, result in evaluate(states):
        if result.late:
            counts["lateObservations"] = counts.get("lateObservations", 0) + 1
        for action in result.actions:
            if context is None:
                context = _with_context(tx, source)
            _act(tx, action, context, now, zone)
            name = _COUNTERS[action.op]
            counts[name] = counts.get(name, 0) + 1
        old = states.get(rule.id, _IDLE)
        if result.state.differs_from(old):
            changed = True
        if result.state.is_idle:
            docs.pop(rule.id, None)
        else:
            docs[rule.id] = result.state.to_doc()
    if not changed:
        return counts
    # the state is bookkeeping: no history of it (a window rule's state changes with every
    # reading of its source, its readings in it; the readings' own history has them)
    recording, tx.recording_history = tx.recording_history, False
    try:
        _write_state(tx, sid, source_id, stored, docs, now)
    finally:
        tx.recording_history = recording
    return counts


def _write_state(
    tx: Transaction,
    sid: str,
    source_id: str,
    stored: Entity | None,
    docs: dict[str, Any],
    now: str,
) -> None:
    """Store a source's episode states (none left: delete the AlertState entity)."""
    if not docs:
        if stored is not None:
            tx.delete(sid)
        return
    attrs = {
        _SOURCE: [{"type": "Relationship", "object": source_id}],
        _STATES: [{"type": "Property", "value": docs}],
    }
    if stored is None:
        tx.insert(new_entity({"id": sid, "type": [STATE_TYPE], "attrs": attrs}, now))
    else:
        entity = {**stored, "attrs": {**stored["attrs"], _STATES: attrs[_STATES]}}
        entity["attrs"][_STATES][0].update(createdAt=stored["createdAt"], modifiedAt=now)
        entity["modifiedAt"] = now
        tx.save(entity, stored)


_COUNTERS = {"open": "alertsOpened", "update": "alertsUpdated", "close": "alertsClosed"}


def _act(
    tx: Transaction, action: Action, source: Mapping[str, Any], now: str, zone: tzinfo
) -> None:
    if action.op == "open":
        try:
            tx.insert(new_alert(action, source, now, zone))
        except AlreadyExists:  # this episode's alert is there already (its id is the episode's)
            pass
        return
    current = tx.get(action.alert_id)
    if current is None:  # deleted by a client: nothing to update or close
        return
    tx.save(changed_alert(current, action, source, now, zone), current)


__all__ = ["AlertService", "state_id"]
