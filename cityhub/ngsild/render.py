"""Internal entities → the representations clients ask for (clause 4.5, 5.2.2, 4.5.x formats).

normalized (every member), concise (clause 4.5.1: no redundant ``type``, bare values), keyValues
(``simplified``: attribute → value), with optional system attributes, ``lang`` (clause 4.15), and
attribute projection (``attrs``/``pick``/``omit``). Names are compacted with the caller's term map.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.entity import Entity, Instance, Terms
from cityhub.ngsild.names import VALUE_MEMBER

_META = ("datasetId", "observedAt", "unitCode")


@dataclass(frozen=True)
class Projection:
    """Which members to render; ``None`` means all.

    ``attrs``/``pick``/``omit`` hold attribute IRIs and, for pick/omit, also ``id``/``type``.
    """

    format: str = "normalized"  # normalized | concise | keyValues
    sys_attrs: bool = False
    lang: str | None = None
    pick: Collection[str] | None = None
    omit: Collection[str] = ()


def _lang_pick(lmap: dict[str, Any], lang: str) -> tuple[Any, str] | None:
    """The languageMap entry for a ``lang`` request (clause 4.15): exact, else @none,
    else the first."""
    wanted = [t.strip() for t in lang.split(",") if t.strip()]
    for tag in wanted:
        tag_base = tag.split(";")[0]
        if tag_base == "*":
            break
        if tag_base in lmap:
            return lmap[tag_base], tag_base
    if "@none" in lmap:
        return lmap["@none"], "@none"
    for tag, text in lmap.items():
        return text, tag
    return None


def _value_of(inst: Instance, terms: Terms, lang: str | None) -> Any:
    attr_type = inst["type"]
    member = VALUE_MEMBER[attr_type]
    value = inst[member]
    if attr_type == "VocabProperty":
        return (
            [terms.compact(v) for v in value] if isinstance(value, list) else terms.compact(value)
        )
    if attr_type == "LanguageProperty" and lang and lang != "*":
        picked = _lang_pick(value, lang)
        return picked[0] if picked else None
    if attr_type == "ListRelationship":
        return [o["object"] for o in value]
    return value


def render_instance(inst: Instance, terms: Terms, proj: Projection) -> Any:
    """One attribute instance in the projection's format."""
    if proj.format == "keyValues":
        return _value_of(inst, terms, proj.lang)
    attr_type = inst["type"]
    member = VALUE_MEMBER[attr_type]
    out: dict[str, Any] = {}
    if attr_type == "LanguageProperty" and proj.lang and proj.lang != "*":
        picked = _lang_pick(inst["languageMap"], proj.lang)
        out["type"] = "Property"
        out["value"] = picked[0] if picked else None
        if picked and picked[1] != "@none":
            out["lang"] = picked[1]
        member = "value"
    elif attr_type == "VocabProperty":
        out["type"] = attr_type
        out["vocab"] = _value_of(inst, terms, None)
    else:
        out["type"] = attr_type
        out[member] = inst[member]
    for key, val in inst.items():
        if key in VALUE_MEMBER.values() or key == "type":
            continue
        if key in ("createdAt", "modifiedAt", "deletedAt"):
            if proj.sys_attrs:
                out[key] = val
            continue
        if key in _META or key in ("lang", "objectType"):
            out[key] = val
            continue
        out[terms.compact(key)] = render_instance(val, terms, proj)
    if proj.format == "concise":
        return _concise(out, member)
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


def render_attribute(instances: list[Instance], terms: Terms, proj: Projection) -> Any:
    """All instances of an attribute: one object, or an array when there are several."""
    rendered = [render_instance(i, terms, proj) for i in instances]
    return rendered[0] if len(rendered) == 1 else rendered


def render_entity(entity: Entity, terms: Terms, proj: Projection) -> dict[str, Any]:
    """A whole entity (without @context; the caller places it per the media type)."""
    out: dict[str, Any] = {}
    pick, omit = proj.pick, proj.omit
    if (pick is None or "id" in pick) and "id" not in omit:
        out["id"] = entity["id"]
    if (pick is None or "type" in pick) and "type" not in omit:
        types = [terms.compact(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if entity.get("scope") and (pick is None or "scope" in pick) and "scope" not in omit:
        scope = entity["scope"]
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if proj.sys_attrs:
        for key in ("createdAt", "modifiedAt"):
            if key in entity:
                out[key] = entity[key]
    for iri, instances in entity["attrs"].items():
        if pick is not None and iri not in pick or iri in omit:
            continue
        out[terms.compact(iri)] = render_attribute(instances, terms, proj)
    return out
