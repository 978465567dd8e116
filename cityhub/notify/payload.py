"""The entities of a Notification, rendered per the subscription (clause 5.8.6; NotificationParams
clause 5.2.14; Notification clause 5.3.1). Pure: the dispatcher fetches linked entities first.

What a notified entity holds (ETSI GS CIM 009 v1.8.1 clause 5.8.6, and the ETSI conformance
suite's expectations for it):

- the entity as it is after the change, in the subscription's ``format``, with ``sysAttrs``,
  ``attributes``, ``pick``/``omit``, ``lang``, the subscription's ``datasetId`` filter
  (clause 4.5.5) and linked entities (``join`` inline or flat, ``joinLevel``, clause 4.5.23);
- every attribute instance the change deleted, as an NGSI-LD Null of its type (``value``,
  ``object``, ``languageMap`` ... set to ``urn:ngsi-ld:null``) stamped ``deletedAt``; an
  attribute deleted whole is one such instance. Deletions are shown for the watched attributes
  (all when none are watched);
- for a deleted entity: ``id``, ``type`` and ``deletedAt``, plus its attributes as NGSI-LD Nulls
  when the subscription asked for ``attributeDeleted`` (the watched ones) or ``showChanges``;
- with ``showChanges``, beside each modified or deleted instance its former value as
  ``previousValue`` / ``previousObject`` / ``previousLanguageMap`` / ``previousJson`` /
  ``previousVocab`` / ``previousValueList`` / ``previousObjectList``;
- in keyValues, an attribute with several instances is ``{"dataset": {datasetId | "@none":
  value}}`` (the simplified form of a multi-attribute).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.names import NGSI_LD_NULL, VALUE_MEMBER
from cityhub.ngsild.projection import Tree
from cityhub.ngsild.render import Projection, render_entity

Document = dict[str, Any]

PREVIOUS_MEMBER: Final = {
    "value": "previousValue",
    "object": "previousObject",
    "languageMap": "previousLanguageMap",
    "json": "previousJson",
    "vocab": "previousVocab",
    "valueList": "previousValueList",
    "objectList": "previousObjectList",
}


def _tree(names: list[str] | None) -> Tree | None:
    return None if names is None else dict.fromkeys(names)


def projection(sub: Document) -> Projection:
    """The rendering a subscription's NotificationParams (and datasetId, lang) ask for."""
    params: Document = sub.get("notification") or {}
    fmt = params.get("format", "normalized")
    datasets = sub.get("datasetId")
    return Projection(
        format="keyValues" if fmt in ("keyValues", "simplified") else fmt,
        sys_attrs=bool(params.get("sysAttrs", False)),
        lang=sub.get("lang"),
        pick=_tree(params.get("pick")),
        omit=_tree(params.get("omit")) or {},
        attrs=params.get("attributes") or None,
        dataset_ids=None if not datasets else {None if d == "@none" else d for d in datasets},
    )


def _null_of(attr_type: str, *, whole_entity: bool) -> Any:
    if attr_type == "LanguageProperty":
        # The ETSI suite's fixtures differ here: 046_34_04 (attribute deleted) expects the
        # language map {"@none": null}, 046_37_01 (entity deleted) the bare null string.
        return NGSI_LD_NULL if whole_entity else {"@none": NGSI_LD_NULL}
    if attr_type == "ListRelationship":
        return [{"object": NGSI_LD_NULL}]
    if attr_type == "ListProperty":
        return [NGSI_LD_NULL]
    return NGSI_LD_NULL


def tombstone(
    former: Instance, deleted_at: str, *, keep_dataset: bool, whole_entity: bool = False
) -> Instance:
    """A deleted attribute instance as an NGSI-LD Null of its type, stamped ``deletedAt``."""
    attr_type = former.get("type", "Property")
    out: Instance = {
        "type": attr_type,
        VALUE_MEMBER.get(attr_type, "value"): _null_of(attr_type, whole_entity=whole_entity),
    }
    if keep_dataset and "datasetId" in former:
        out["datasetId"] = former["datasetId"]
    for key in ("createdAt", "modifiedAt"):
        if key in former:
            out[key] = former[key]
    out["deletedAt"] = deleted_at
    return out


def _default_instance(instances: list[Instance]) -> Instance:
    for inst in instances:
        if "datasetId" not in inst:
            return inst
    return instances[0]


def _deleted_at(entity: Entity, notified_at: str) -> str:
    return str(entity.get("deletedAt") or notified_at)


def with_deletions(
    entity: Entity,
    previous: Mapping[str, list[Instance]],
    scope: frozenset[str] | None,
    deleted_at: str,
) -> Entity:
    """``entity`` (after the change) with the instances the change deleted added as Nulls,
    for the attributes in ``scope`` (None: all)."""
    attrs = dict(entity["attrs"])
    for name, former in previous.items():
        if scope is not None and name not in scope or not former:
            continue
        now = attrs.get(name)
        if now is None:
            only = len(former) == 1
            attrs[name] = [tombstone(_default_instance(former), deleted_at, keep_dataset=only)]
            continue
        kept = {i.get("datasetId") for i in now}
        gone = [i for i in former if i.get("datasetId") not in kept]
        if gone:
            attrs[name] = [*now, *(tombstone(i, deleted_at, keep_dataset=True) for i in gone)]
    return {**entity, "attrs": attrs}


def deleted_entity(entity: Entity, names: Iterable[str], deleted_at: str) -> Entity:
    """A deleted entity: its id, type and system times, and ``names`` as NGSI-LD Nulls."""
    attrs: dict[str, list[Instance]] = {}
    for name in names:
        former = entity["attrs"].get(name)
        if former:
            attrs[name] = [
                tombstone(
                    _default_instance(former),
                    deleted_at,
                    keep_dataset=len(former) == 1,
                    whole_entity=True,
                )
            ]
    out = {k: v for k, v in entity.items() if k not in ("attrs", "deletedAt")}
    out["attrs"] = attrs
    return out


def _previous_value(former: Instance, terms: TermMap) -> tuple[str, Any] | None:
    member = VALUE_MEMBER.get(former.get("type", ""))
    if member is None or member not in former:
        return None
    value = former[member]
    if member == "vocab":
        value = (
            [terms.compact(v) for v in value] if isinstance(value, list) else terms.compact(value)
        )
    elif member == "objectList":
        value = [o.get("object") for o in value if isinstance(o, dict)]
    return PREVIOUS_MEMBER[member], value


def _add_previous(
    rendered: Document, previous: Mapping[str, list[Instance]], terms: TermMap
) -> None:
    """showChanges: the former value beside each rendered instance the change touched."""
    for name, former in previous.items():
        if not former:
            continue
        shown = rendered.get(terms.compact(name))
        instances = shown if isinstance(shown, list) else [shown]
        by_dataset = {i.get("datasetId"): i for i in former}
        for inst in instances:
            if not isinstance(inst, dict):
                continue
            if "datasetId" in inst:
                old = by_dataset.get(inst["datasetId"])
            else:
                old = by_dataset.get(None) or (former[0] if len(former) == 1 else None)
            if old is None:
                continue
            now_member = VALUE_MEMBER.get(old.get("type", ""), "value")
            if now_member in inst and inst[now_member] == old.get(now_member):
                continue  # this instance did not change
            prev = _previous_value(old, terms)
            if prev is not None:
                inst[prev[0]] = prev[1]


def _datasets_key_values(
    rendered: Document, entity: Entity, proj: Projection, terms: TermMap
) -> None:
    for name, instances in entity["attrs"].items():
        key = terms.compact(name)
        value = rendered.get(key)
        if not isinstance(value, list) or len(instances) < 2:
            continue
        shown = instances
        if proj.dataset_ids is not None:
            shown = [i for i in instances if i.get("datasetId") in proj.dataset_ids]
        if len(shown) != len(value):
            continue
        rendered[key] = {
            "dataset": {i.get("datasetId") or "@none": v for i, v in zip(shown, value, strict=True)}
        }


def render_notified_entity(
    entity: Entity,
    sub: Document,
    terms: TermMap,
    *,
    previous: Mapping[str, list[Instance]] | None = None,
    notified_at: str,
    linked: Mapping[str, Entity] | None = None,
    join_level: int = 0,
) -> Document:
    """One entity of a Notification's ``data`` (see the module docstring)."""
    params: Document = sub.get("notification") or {}
    proj = projection(sub)
    show_changes = bool(params.get("showChanges")) and proj.format != "keyValues"
    watched = sub.get("watchedAttributes")
    scope = frozenset(watched) if watched else None
    previous = previous or {}
    if "deletedAt" in entity:
        deleted_at = _deleted_at(entity, notified_at)
        if show_changes:
            names: Iterable[str] = entity["attrs"]
        elif "attributeDeleted" in (sub.get("notificationTrigger") or ()):
            names = [n for n in entity["attrs"] if scope is None or n in scope]
        else:
            names = ()
        former = entity["attrs"]
        shown = deleted_entity(entity, names, deleted_at)
        rendered = render_entity(shown, terms, proj)
        rendered["deletedAt"] = deleted_at
        if show_changes:
            _add_previous(rendered, {n: former[n] for n in names}, terms)
        return rendered
    shown = with_deletions(entity, previous, scope, notified_at) if previous else entity
    rendered = render_entity(shown, terms, proj, linked, join_level)
    if show_changes and previous:
        _add_previous(rendered, previous, terms)
    if proj.format == "keyValues":
        _datasets_key_values(rendered, shown, proj, terms)
    return rendered


__all__ = [
    "PREVIOUS_MEMBER",
    "deleted_entity",
    "projection",
    "render_notified_entity",
    "tombstone",
    "with_deletions",
]
