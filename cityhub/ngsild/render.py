"""Internal entities → the representations clients ask for (clauses 4.5, 4.21, 4.15, 5.2.2).

normalized (every member), concise (clause 4.5.1: no redundant ``type``, bare values), keyValues
(``simplified``: attribute → value), with optional system attributes, ``lang`` (clause 4.15),
``datasetId`` filtering, pick/omit projection (clause 4.21) and linked entities inline (clause
4.5.23). Names are compacted with the caller's term map.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cityhub.ngsild.entity import Entity, Instance, Terms
from cityhub.ngsild.names import VALUE_MEMBER
from cityhub.ngsild.projection import Tree

_META = ("datasetId", "observedAt", "unitCode")
_LINKING = ("Relationship", "ListRelationship")
# per instance key, what _instance does with it (sets: every key of every rendered instance)
_OWN = frozenset(VALUE_MEMBER.values()) | {"type"}
_SYSTEM = frozenset(("createdAt", "modifiedAt", "deletedAt"))
_COPIED = frozenset(_META) | {"lang", "objectType"}


@dataclass(frozen=True)
class Projection:
    """What to render. ``pick``/``omit`` are trees of IRIs (and ``id``/``type``/``scope``);
    ``attrs`` keeps only those attributes (with id and type); ``None`` means everything."""

    format: str = "normalized"  # normalized | concise | keyValues
    sys_attrs: bool = False
    lang: str | None = None
    pick: Tree | None = None
    omit: Tree = field(default_factory=dict)
    attrs: Collection[str] | None = None
    dataset_ids: Collection[str | None] | None = None  # None in the set = the default instance

    def for_link(self, iri: str) -> Projection:
        """The projection of the entities a relationship ``iri`` links to."""
        pick = self.pick.get(iri) if self.pick is not None else None
        omit = self.omit.get(iri) or {}
        return replace(self, pick=pick, omit=omit, attrs=None)


def _lang_pick(lmap: dict[str, Any], lang: str) -> tuple[Any, str] | None:
    """The languageMap entry for ``lang`` (clause 4.15): the first listed tag present (``*`` =
    any), else ``@none``, else the first entry."""
    for tag in (t.split(";")[0].strip() for t in lang.split(",")):
        if tag == "*":
            break
        if tag in lmap:
            return lmap[tag], tag
    if "@none" in lmap and not lang.startswith("*"):
        return lmap["@none"], "@none"
    for tag, text in lmap.items():
        return text, tag
    return None


@dataclass
class _Ctx:
    terms: Terms
    linked: Mapping[str, Entity]
    level: int  # how many more levels of linked entities to inline


def _value_of(inst: Instance, ctx: _Ctx, proj: Projection, iri: str) -> Any:
    attr_type = inst["type"]
    value = inst[VALUE_MEMBER[attr_type]]
    if attr_type == "VocabProperty":
        terms = ctx.terms
        return (
            [terms.compact(v) for v in value] if isinstance(value, list) else terms.compact(value)
        )
    if attr_type == "LanguageProperty" and proj.lang:
        picked = _lang_pick(value, proj.lang)
        return picked[0] if picked else None
    if attr_type == "ListRelationship":
        return [o["object"] for o in value]
    if attr_type == "Relationship" and ctx.level > 0:
        targets = _targets(value, ctx, proj, iri)
        if targets is not None:
            return targets
    return value


def _targets(objects: Any, ctx: _Ctx, proj: Projection, iri: str) -> Any:
    """Rendered linked entities for inline retrieval, or None when none is known."""
    ids = objects if isinstance(objects, list) else [objects]
    sub = proj.for_link(iri)
    deeper = _Ctx(ctx.terms, ctx.linked, ctx.level - 1)
    found = [_entity(ctx.linked[i], deeper, sub) for i in ids if i in ctx.linked]
    if not found:
        return None
    return found if isinstance(objects, list) else found[0]


def _instance(inst: Instance, ctx: _Ctx, proj: Projection, iri: str) -> Any:
    if proj.format == "keyValues":
        return _value_of(inst, ctx, proj, iri)
    attr_type = inst["type"]
    member = VALUE_MEMBER[attr_type]
    out: dict[str, Any] = {}
    if attr_type == "LanguageProperty" and proj.lang:
        picked = _lang_pick(inst["languageMap"], proj.lang)
        out["type"] = "Property"
        out["value"] = picked[0] if picked else None
        if picked and picked[1] != "@none":
            out["lang"] = picked[1]
        member = "value"
    elif attr_type == "VocabProperty":
        out["type"] = attr_type
        out["vocab"] = _value_of(inst, ctx, proj, iri)
    else:
        out["type"] = attr_type
        out[member] = inst[member]
    if attr_type == "Relationship" and ctx.level > 0:
        targets = _targets(inst["object"], ctx, proj, iri)
        if targets is not None:
            out["entityList" if isinstance(targets, list) else "entity"] = targets
    for key, val in inst.items():
        if key in _OWN:
            continue
        if key in _SYSTEM:
            if proj.sys_attrs:
                out[key] = val
            continue
        if key in _COPIED:
            out[key] = val
            continue
        out[ctx.terms.compact(key)] = _instance(val, _Ctx(ctx.terms, {}, 0), proj, key)
    if proj.format == "concise":
        return _concise(out, member)
    return out


# per attribute type, the members _plain_instance copies as they are; it drops _DROPPED
_KEPT = {t: frozenset(("type", m)) | _COPIED for t, m in VALUE_MEMBER.items()}
_DROPPED = _OWN | _SYSTEM


def _plain_instance(inst: Instance, terms: Terms, proj: Projection) -> Any:
    """_instance for a plain projection (normalized, no system attributes, no language to
    pick, nothing to pick, omit or inline; see :func:`render_entity`): the stored members as
    they are, sub-attributes rendered alike. Kept apart because it is the hot case of every
    query."""
    attr_type = inst["type"]
    if attr_type == "VocabProperty":  # its value is compacted
        return _instance(inst, _Ctx(terms, {}, 0), proj, "")
    kept = _KEPT[attr_type]
    out: dict[str, Any] = {}
    for key, val in inst.items():
        if key in kept:
            out[key] = val
        elif key not in _DROPPED:
            out[terms.compact(key)] = _plain_instance(val, terms, proj)
    return out


def _plain_entity(entity: Entity, terms: Terms, proj: Projection) -> dict[str, Any]:
    """_whole_entity for a plain projection (see :func:`_plain_instance`)."""
    compact = terms.compact
    types = entity["type"]
    out: dict[str, Any] = {
        "id": entity["id"],
        "type": compact(types[0]) if len(types) == 1 else [compact(t) for t in types],
    }
    scope = entity.get("scope")
    if scope:
        out["scope"] = scope[0] if len(scope) == 1 else scope
    for iri, instances in entity["attrs"].items():
        if len(instances) == 1:
            out[compact(iri)] = _plain_instance(instances[0], terms, proj)
        else:
            out[compact(iri)] = [_plain_instance(i, terms, proj) for i in instances]
    return out


def _concise(out: dict[str, Any], member: str) -> Any:
    attr_type = out.pop("type")
    if attr_type in ("Property", "GeoProperty") and len(out) == 1 and member in out:
        value = out[member]
        # a dict value that looks like an attribute would not read back as a value
        if not (isinstance(value, dict) and any(k in value for k in VALUE_MEMBER.values())):
            return value
    if attr_type == "GeoProperty" and "value" in out and len(out) > 1:
        out["type"] = attr_type  # keeps "value" unambiguous beside sub-attributes
    return out


def _keep(name: str, proj: Projection) -> bool:
    if proj.pick is not None and name not in proj.pick:
        return False
    return not (name in proj.omit and proj.omit[name] is None)


def _entity(entity: Entity, ctx: _Ctx, proj: Projection) -> dict[str, Any]:
    if proj.pick is None and not proj.omit and proj.attrs is None and proj.dataset_ids is None:
        return _whole_entity(entity, ctx, proj)
    out: dict[str, Any] = {}
    if _keep("id", proj):
        out["id"] = entity["id"]
    if _keep("type", proj):
        types = [ctx.terms.compact(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if entity.get("scope") and _keep("scope", proj):
        scope = entity["scope"]
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if proj.sys_attrs:
        for key in ("createdAt", "modifiedAt"):
            if key in entity:
                out[key] = entity[key]
    for iri, instances in entity["attrs"].items():
        if proj.attrs is not None and iri not in proj.attrs or not _keep(iri, proj):
            continue
        if proj.dataset_ids is not None:
            instances = [i for i in instances if i.get("datasetId") in proj.dataset_ids]
            if not instances:
                continue
        rendered = [_instance(i, ctx, proj, iri) for i in instances]
        out[ctx.terms.compact(iri)] = rendered[0] if len(rendered) == 1 else rendered
    return out


def render_entity(
    entity: Entity,
    terms: Terms,
    proj: Projection,
    linked: Mapping[str, Entity] | None = None,
    join_level: int = 0,
) -> dict[str, Any]:
    """A whole entity (without @context; the caller places it per the media type).

    ``linked`` holds the entities relationships point to, inlined ``join_level`` levels deep.
    """
    if (
        not linked
        and proj.format == "normalized"
        and not proj.sys_attrs
        and not proj.lang
        and proj.pick is None
        and not proj.omit
        and proj.attrs is None
        and proj.dataset_ids is None
    ):
        return _plain_entity(entity, terms, proj)
    return _entity(entity, _Ctx(terms, linked or {}, join_level if linked else 0), proj)


def _whole_entity(entity: Entity, ctx: _Ctx, proj: Projection) -> dict[str, Any]:
    """_entity without projection (the common case, kept apart because it is hot)."""
    compact = ctx.terms.compact
    types = entity["type"]
    out: dict[str, Any] = {
        "id": entity["id"],
        "type": compact(types[0]) if len(types) == 1 else [compact(t) for t in types],
    }
    scope = entity.get("scope")
    if scope:
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if proj.sys_attrs:
        for key in ("createdAt", "modifiedAt"):
            if key in entity:
                out[key] = entity[key]
    for iri, instances in entity["attrs"].items():
        if len(instances) == 1:
            out[compact(iri)] = _instance(instances[0], ctx, proj, iri)
        else:
            out[compact(iri)] = [_instance(i, ctx, proj, iri) for i in instances]
    return out


def linked_ids(entity: Entity, proj: Projection) -> list[tuple[str, Projection]]:
    """Targets of the entity's rendered relationships, with the projection each is shown in."""
    out: list[tuple[str, Projection]] = []
    for iri, instances in entity["attrs"].items():
        if proj.attrs is not None and iri not in proj.attrs or not _keep(iri, proj):
            continue
        for inst in instances:
            if inst["type"] not in _LINKING:
                continue
            if inst["type"] == "Relationship":
                objs = inst["object"] if isinstance(inst["object"], list) else [inst["object"]]
            else:
                objs = [o["object"] for o in inst["objectList"]]
            out.extend((o, proj.for_link(iri)) for o in objs)
    return out
