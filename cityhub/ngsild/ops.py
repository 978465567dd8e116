"""What each NGSI-LD write operation does to an entity, as pure functions on the internal form.

The store runs these inside its write transaction (read, apply, write back), so every backend
gets the same semantics. Clauses of ETSI GS CIM 009 v1.8.1 are named on each function.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.names import VALUE_MEMBER, is_null


@dataclass
class UpdateResult:
    """Clause 5.2.18 UpdateResult: attribute names updated and those not, with reasons."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)  # (attribute IRI, reason)


def _stamp(inst: Instance, now: str, created: str | None = None) -> Instance:
    inst["createdAt"] = created or now
    inst["modifiedAt"] = now
    for key, val in inst.items():
        if ":" in key and isinstance(val, dict):
            _stamp(val, now, val.get("createdAt"))
    return inst


def new_entity(entity: Entity, now: str) -> Entity:
    """Clause 5.6.1: a created entity gets createdAt/modifiedAt on itself and every instance."""
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    for instances in entity["attrs"].values():
        for inst in instances:
            _stamp(inst, now)
    return entity


def _find(instances: list[Instance], dataset_id: str | None) -> int | None:
    for i, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return i
    return None


def instance_is_null(inst: Instance) -> bool:
    """Whether an instance of a fragment asks to delete (its value is the NGSI-LD Null)."""
    return is_null(inst.get(VALUE_MEMBER.get(inst.get("type", ""), "value")))


def _drop_nulls(inst: Instance) -> None:
    for key in [
        k for k, v in inst.items() if ":" in k and isinstance(v, dict) and instance_is_null(v)
    ]:
        del inst[key]


def _merge_types_and_scope(entity: Entity, fragment: Entity, *, replace_scope: bool) -> None:
    for t in fragment.get("type", []):
        if t not in entity["type"]:
            entity["type"].append(t)
    if "scope" in fragment:
        if replace_scope:
            entity["scope"] = fragment["scope"]
        else:
            entity["scope"] = list(dict.fromkeys([*entity.get("scope", []), *fragment["scope"]]))


def append_attributes(
    entity: Entity, fragment: Entity, now: str, *, overwrite: bool = True
) -> UpdateResult:
    """Clause 5.6.3 Append Entity Attributes (``options=noOverwrite`` keeps existing ones).

    The fragment's types are added to the entity's (multi-typing, clause 4.16); scope replaces.
    """
    result = UpdateResult()
    _merge_types_and_scope(entity, fragment, replace_scope=overwrite)
    for iri, instances in fragment["attrs"].items():
        current = entity["attrs"].setdefault(iri, [])
        for inst in instances:
            idx = _find(current, inst.get("datasetId"))
            if idx is None:
                current.append(_stamp(inst, now))
            elif overwrite:
                current[idx] = _stamp(inst, now, current[idx].get("createdAt"))
            else:
                result.not_updated.append((iri, "attribute exists and noOverwrite was asked"))
                continue
            if iri not in result.updated:
                result.updated.append(iri)
    entity["modifiedAt"] = now
    return result


def _apply_instances(
    entity: Entity, fragment: Entity, now: str, combine: Callable[[Instance, Instance], Instance]
) -> list[str]:
    """Write a fragment's instances into the entity: an NGSI-LD Null deletes its instance, a
    new datasetId is added, an existing one becomes ``combine(old, new)``. Returns the IRIs."""
    touched: list[str] = []
    for iri, instances in fragment["attrs"].items():
        current = entity["attrs"].setdefault(iri, [])
        for inst in instances:
            idx = _find(current, inst.get("datasetId"))
            if instance_is_null(inst):
                if idx is not None:
                    del current[idx]
            elif idx is None:
                _drop_nulls(inst)
                current.append(_stamp(inst, now))
            else:
                current[idx] = combine(current[idx], inst)
        if not current:
            del entity["attrs"][iri]
        touched.append(iri)
    entity["modifiedAt"] = now
    return touched


def update_attributes(entity: Entity, fragment: Entity, now: str) -> UpdateResult:
    """Clause 5.6.2 Update Entity Attributes, as the ETSI suite reads v1.8: attributes that do
    not exist yet are appended (011_01_03), a new datasetId is added, an NGSI-LD Null deletes
    (clause 4.5.0); types are added; scope is replaced only where the entity has one (011_05).
    """
    result = UpdateResult()
    if "scope" in fragment and not entity.get("scope"):
        fragment = {k: v for k, v in fragment.items() if k != "scope"}
        result.not_updated.append(("scope", "the entity has no scope to update"))
    _merge_types_and_scope(entity, fragment, replace_scope=True)

    def replace(old: Instance, new: Instance) -> Instance:
        _drop_nulls(new)
        return _stamp(new, now, old.get("createdAt"))

    result.updated = _apply_instances(entity, fragment, now, replace)
    return result


def _merge_instance(old: Instance, new: Instance, now: str) -> Instance:
    """Clause 5.6.17 merge of one instance: new members win; old sub-attributes stay
    unless nulled."""
    merged = {
        k: v
        for k, v in old.items()
        if k not in VALUE_MEMBER.values() or new.get("type", old["type"]) == old["type"]
    }
    for key, val in new.items():
        if ":" in key and isinstance(val, dict):
            if instance_is_null(val):
                merged.pop(key, None)
            elif key in merged and isinstance(merged[key], dict):
                merged[key] = _merge_instance(merged[key], val, now)
            else:
                merged[key] = _stamp(val, now)
        else:
            merged[key] = val
    if new.get("type") != old["type"]:
        for member in VALUE_MEMBER.values():
            if member != VALUE_MEMBER[new["type"]]:
                merged.pop(member, None)
    merged["createdAt"] = old.get("createdAt", now)
    merged["modifiedAt"] = now
    return merged


def merge_entity(entity: Entity, fragment: Entity, now: str) -> UpdateResult:
    """Clause 5.6.17 Merge Entity: add new attributes, merge existing ones,
    ``urn:ngsi-ld:null`` deletes."""
    _merge_types_and_scope(entity, fragment, replace_scope=True)
    touched = _apply_instances(
        entity, fragment, now, lambda old, new: _merge_instance(old, new, now)
    )
    return UpdateResult(updated=touched)


def replace_entity(entity: Entity, replacement: Entity, now: str) -> None:
    """Clause 5.6.18 Replace Entity: every attribute replaced; id and createdAt kept."""
    if "type" in replacement:
        entity["type"] = replacement["type"]
    if "scope" in replacement:
        entity["scope"] = replacement["scope"]
    else:
        entity.pop("scope", None)
    entity["attrs"] = {}
    for iri, instances in replacement["attrs"].items():
        entity["attrs"][iri] = [_stamp(i, now) for i in instances]
    entity["modifiedAt"] = now


def patch_attribute(
    entity: Entity, iri: str, fragment: dict[str, Any], now: str, label: str
) -> None:
    """Clause 5.6.4 Partial Attribute Update: the given members replace those of one instance."""
    current = entity["attrs"].get(iri)
    dataset_id = fragment.get("datasetId")
    idx = None if current is None else _find(current, dataset_id)
    if current is None or idx is None:
        what = (
            f"entity {entity['id']} has no attribute {label}"
            if current is None
            else f"attribute {label} of {entity['id']} has no instance with datasetId {dataset_id}"
        )
        raise ResourceNotFound(what)
    old = current[idx]
    if any(is_null(fragment.get(m)) for m in VALUE_MEMBER.values() if m in fragment):
        del current[idx]  # clause 4.5.0: the NGSI-LD Null deletes the instance
        if not current:
            del entity["attrs"][iri]
        entity["modifiedAt"] = now
        return
    new_type = fragment.get("type", old["type"])
    if new_type != old["type"] and "type" in fragment:
        raise BadRequestData(
            f"attribute {label} is a {old['type']}; a partial update cannot "
            f"turn it into a {new_type}"
        )
    merged = copy.copy(old)
    for key, val in fragment.items():
        if key == "type":
            continue
        if ":" in key and isinstance(val, dict):
            if instance_is_null(val):
                merged.pop(key, None)
            else:
                merged[key] = _stamp(
                    val,
                    now,
                    old.get(key, {}).get("createdAt") if isinstance(old.get(key), dict) else None,
                )
        else:
            merged[key] = val
    merged["modifiedAt"] = now
    current[idx] = merged
    entity["modifiedAt"] = now


def replace_attribute(
    entity: Entity, iri: str, instances: list[Instance], now: str, label: str
) -> None:
    """Clause 5.6.19 Replace Attribute: the instance with the same datasetId is replaced."""
    current = entity["attrs"].get(iri)
    if current is None:
        raise ResourceNotFound(f"entity {entity['id']} has no attribute {label}")
    for inst in instances:
        idx = _find(current, inst.get("datasetId"))
        if idx is None:
            raise ResourceNotFound(
                f"attribute {label} of {entity['id']} has no instance with "
                f"datasetId {inst.get('datasetId')}"
            )
        current[idx] = _stamp(inst, now, current[idx].get("createdAt"))
    entity["modifiedAt"] = now


def delete_attribute(
    entity: Entity, iri: str, label: str, *, dataset_id: str | None = None, delete_all: bool = False
) -> None:
    """Clause 5.6.5 Delete Attribute: the default instance, one datasetId, or all instances.

    ``scope`` (clause 4.18) is deleted the same way.
    """
    if label == "scope":
        if not entity.get("scope"):
            raise ResourceNotFound(f"entity {entity['id']} has no scope")
        del entity["scope"]
        return
    current = entity["attrs"].get(iri)
    if current is None:
        raise ResourceNotFound(f"entity {entity['id']} has no attribute {label}")
    if delete_all:
        del entity["attrs"][iri]
        return
    idx = _find(current, dataset_id)
    if idx is None:
        what = f"datasetId {dataset_id}" if dataset_id else "no datasetId (default instance)"
        raise ResourceNotFound(f"attribute {label} of {entity['id']} has no instance with {what}")
    del current[idx]
    if not current:
        del entity["attrs"][iri]
